"""The appointments API, the Cal.com booking webhook, and the patient's visit page."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nurture.appointments import attendance, calcom, calcom_apply, outcomes, service
from nurture.appointments.models import Appointment
from nurture.appointments.reminders import reminders_of
from nurture.appointments.schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    ReminderOut,
)
from nurture.clinic import service as clinic
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.dispatch import nudge
from nurture.core.tokens import InvalidToken, read_token
from nurture.core.translations import N_
from nurture.core.translations import gettext as _
from nurture.http.api_responses import DetailOut, JsonBodyRoute, bearer, errors
from nurture.http.deps import RowId, SessionDep
from nurture.http.errors import validation_response
from nurture.http.language import for_lead
from nurture.http.pages import link_problem_page, render_page
from nurture.leads.models import Lead
from nurture.locations import service as locations
from nurture.messages import links
from nurture.messages.contexts import appointment_context
from nurture.staff import tokens
from nurture.staff.models import ApiToken

router = APIRouter(route_class=JsonBodyRoute)
NOT_JSON = "The body is not valid JSON."
log = logging.getLogger(__name__)

CALCOM_SIGNATURE = "X-Cal-Signature-256"
# The body is read raw (its signature covers the exact bytes), so its shape is declared here.
CALCOM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def require_token(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> ApiToken:
    """Accept `Authorization: Bearer <token>` for a live API token, else answer 401."""
    row = (
        tokens.authenticate(session, token=credentials.credentials.strip(), now=clock.now())
        if credentials is not None
        else None
    )
    if row is None:
        raise HTTPException(
            status_code=401,
            detail="A valid API token is required (Authorization: Bearer <token>); "
            "create one with `nurture tokens create NAME`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return row


ApiClient = Annotated[ApiToken, Depends(require_token)]


def _out(session: SessionDep, appointment: Appointment) -> dict[str, Any]:
    reminders = [
        ReminderOut(name=m.reminder or "", channel=m.channel, due_at=m.due_at, status=m.status)
        for m in reminders_of(session, appointment)
    ]
    return AppointmentOut(
        id=appointment.id,
        external_id=appointment.external_id,
        status=appointment.status,
        starts_at=appointment.starts_at,
        timezone=appointment.timezone,
        revision=appointment.revision,
        location=locations.site(appointment.location_key).key,
        phone=appointment.phone,
        attendance=attendance.attendance(appointment),
        confirmed_at=appointment.confirmed_at,
        change_requested_at=appointment.change_requested_at,
        reminders=reminders,
    ).model_dump(mode="json")


def _invalid(exc: service.AppointmentError) -> JSONResponse:
    return JSONResponse(
        {"error": "validation_failed", "message": str(exc), "fields": {"starts_at": str(exc)}},
        status_code=422,
    )


def _get(session: SessionDep, appointment_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise HTTPException(status_code=404, detail=f"No appointment {appointment_id}.")
    return appointment


@router.post(
    "/api/appointments",
    tags=["appointments"],
    status_code=201,
    response_model=AppointmentOut,
    responses={
        200: {"model": AppointmentOut, "description": "Updated the visit with this external_id."},
        **errors([401], model=DetailOut),
        **errors([400, 413, 422], s400=NOT_JSON),
    },
)
def create_appointment(data: AppointmentIn, session: SessionDep, _: ApiClient) -> JSONResponse:
    """Book a visit (or update the one with the same external_id); plans its reminders.

    With `status` attended or no_show, record a visit that has begun, with its outcome.
    """
    try:
        if data.status == "booked":
            result = service.book(session, data=data, now=clock.now())
        else:
            result = outcomes.record_outcome(
                session, data=data, status=data.status, now=clock.now()
            )
    except service.AppointmentError as exc:
        session.rollback()
        return _invalid(exc)
    session.commit()
    nudge()
    return JSONResponse(
        _out(session, result.appointment), status_code=201 if result.created else 200
    )


@router.get(
    "/api/appointments/{appointment_id}",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses={**errors([401, 404], model=DetailOut), **errors([422])},
)
def read_appointment(appointment_id: RowId, session: SessionDep, _: ApiClient) -> JSONResponse:
    """Show a visit: its time, status, the patient's answer and its planned emails."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise HTTPException(status_code=404, detail=f"No appointment {appointment_id}.")
    return JSONResponse(_out(session, appointment))


@router.patch(
    "/api/appointments/{appointment_id}",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses={
        **errors([401, 404], model=DetailOut),
        **errors([400, 413, 422], s400=NOT_JSON),
    },
)
def update_appointment(
    appointment_id: RowId, patch: AppointmentPatch, session: SessionDep, _: ApiClient
) -> JSONResponse:
    """Move a visit or record its outcome (attended, no_show); re-plans unsent reminders."""
    appointment = _get(session, appointment_id)
    try:
        service.reschedule(session, appointment=appointment, patch=patch, now=clock.now())
    except service.AppointmentError as exc:
        session.rollback()
        return _invalid(exc)
    session.commit()
    nudge()
    return JSONResponse(_out(session, appointment))


@router.delete(
    "/api/appointments/{appointment_id}",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses={**errors([401, 404], model=DetailOut), **errors([422])},
)
def delete_appointment(appointment_id: RowId, session: SessionDep, _: ApiClient) -> JSONResponse:
    """Cancel a visit: unsent reminders stop and a cancellation notice goes out."""
    appointment = _get(session, appointment_id)
    service.cancel(session, appointment=appointment, now=clock.now())
    session.commit()
    nudge()
    return JSONResponse(_out(session, appointment))


def _calcom_apply(session: Session, raw: bytes) -> JSONResponse:
    """Read and apply one verified Cal.com webhook (in a worker thread: it writes)."""
    try:
        envelope = calcom.read_envelope(raw)
        if envelope.uid is None:
            # Cal.com does not send again what it was refused: every trigger it may send (a
            # meeting started, a form, a trigger added after this was written) gets a 2xx.
            log.info("Cal.com %s ignored: nothing here acts on it", envelope.trigger[:80])
            return JSONResponse({"status": "ignored", "triggerEvent": envelope.trigger})
        result = calcom_apply.apply(session, envelope, now=clock.now())
    except calcom.CalcomError as exc:
        session.rollback()
        error = "malformed_body" if exc.status == 400 else "validation_failed"
        body: dict[str, Any] = {"error": error, "message": str(exc)}
        if exc.fields:
            body["fields"] = exc.fields
        return JSONResponse(body, status_code=exc.status)
    except ValidationError as exc:
        session.rollback()
        return validation_response(exc.errors())
    except service.AppointmentError as exc:
        session.rollback()
        return _invalid(exc)
    session.commit()
    nudge()
    return JSONResponse(result)


@router.post(
    "/webhooks/calcom",
    tags=["webhooks"],
    openapi_extra=CALCOM_BODY,
    responses=errors([400, 401, 413, 422, 503], s401="X-Cal-Signature-256 does not match."),
)
async def calcom_webhook(request: Request, session: SessionDep) -> JSONResponse:
    """Apply Cal.com's booking events in order (see nurture.appointments.calcom); 2xx the rest."""
    secret = get_settings().calcom_webhook_secret
    if secret is None:
        return JSONResponse(
            {"error": "not_configured", "message": "Set NURTURE_CALCOM_WEBHOOK_SECRET first."},
            status_code=503,
        )
    raw = await request.body()
    expected = hmac.new(secret.get_secret_value().encode(), raw, hashlib.sha256).hexdigest()
    given = request.headers.get(CALCOM_SIGNATURE, "")
    if not hmac.compare_digest(expected, given.strip().lower()):
        return JSONResponse(
            {"error": "bad_signature", "message": f"{CALCOM_SIGNATURE} does not match the body."},
            status_code=401,
        )
    return await run_in_threadpool(_calcom_apply, session, raw)


def _visit_ways() -> tuple[tuple[str, str], ...]:
    """Where a failed visit link leads: the clinic's booking page (its phone is always shown)."""
    booking = clinic.effective().booking_url
    return ((booking, N_("Book or move a visit online")),) if booking else ()


def _for_patient(session: Session, appointment: Appointment) -> None:
    """Answer in the patient's language: the link names their visit."""
    lead = session.get(Lead, appointment.lead_id)
    for_lead(lead.language if lead is not None else None)


@router.get("/visit/{token}", response_class=HTMLResponse, include_in_schema=False)
def visit_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a patient their visit and how to move or cancel it."""
    try:
        payload = read_token("visit", token)
    except InvalidToken as exc:
        return link_problem_page(request, message=str(exc), ways=_visit_ways())
    appointment_id = payload.get("appointment")
    appointment = (
        session.get(Appointment, appointment_id) if isinstance(appointment_id, int) else None
    )
    if appointment is None:
        return link_problem_page(
            request,
            title=N_("Appointment not found"),
            message=N_("This appointment no longer exists."),
            status_code=404,
            ways=_visit_ways(),
        )
    _for_patient(session, appointment)
    return render_page(
        request,
        "visit.html",
        title=_("Your appointment"),
        appointment=appointment,
        phone=locations.site(appointment.location_key).phone,
        **appointment_context(appointment),
    )


# Links are made when a reminder is sent, at most a couple of weeks before the visit; a month
# covers that with room to spare while keeping an old email from answering for ever.
ATTEND_LINK_MAX_AGE_SECONDS = 30 * 24 * 3600
_ANSWER_TITLES = {"confirm": N_("Will you be there?"), "change": N_("Need a different time?")}


def _attending(
    request: Request, session: Session, token: str
) -> tuple[Appointment, int, str] | HTMLResponse:
    """Read an attendance link: its visit, revision and answer, or the page saying why not."""
    try:
        payload = read_token(
            links.ATTEND_PURPOSE, token, max_age_seconds=ATTEND_LINK_MAX_AGE_SECONDS
        )
    except InvalidToken as exc:
        hint = " " + _("Use the links in your latest email, or call us.") if exc.expired else ""
        return link_problem_page(
            request,
            message=f"{_(str(exc))}{hint} {_('Nothing was changed.')}",
            ways=_visit_ways(),
        )
    appointment_id, revision = payload.get("appointment"), payload.get("r")
    answer = payload.get("answer")
    if not (
        isinstance(appointment_id, int)
        and isinstance(revision, int)
        and answer in links.ATTEND_ANSWERS
    ):
        return link_problem_page(
            request, message=N_("This link is not valid. Nothing was changed."), ways=_visit_ways()
        )
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return link_problem_page(
            request,
            title=N_("Appointment not found"),
            message=N_("This appointment no longer exists."),
            status_code=404,
            ways=_visit_ways(),
        )
    _for_patient(session, appointment)
    return appointment, revision, str(answer)


def _attend_page(
    request: Request,
    appointment: Appointment,
    *,
    answer: str,
    token: str = "",
    closed: str | None = None,
    done: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        "attend.html",
        status_code,
        title=_(_ANSWER_TITLES[answer]),
        answer=answer,
        token=token,
        closed=_(closed) if closed else None,
        done=done,
        attendance=attendance.attendance(appointment),
        visit_page=links.visit_url(appointment.id),
        **appointment_context(appointment),
    )


@router.get("/attend/{token}", response_class=HTMLResponse, include_in_schema=False)
def attend_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show the visit and one button; a GET records nothing, so link scanners answer nothing."""
    found = _attending(request, session, token)
    if isinstance(found, HTMLResponse):
        return found
    appointment, revision, answer = found
    closed = attendance.answerable(appointment, revision=revision, now=clock.now())
    return _attend_page(
        request,
        appointment,
        answer=answer,
        token=token,
        closed=closed,
        status_code=409 if closed else 200,
    )


@router.post("/attend", response_class=HTMLResponse, include_in_schema=False)
def attend(
    request: Request, session: SessionDep, token: Annotated[str, Form(max_length=2000)] = ""
) -> HTMLResponse:
    """Record the answer the signed token in the form carries (it is the only authority)."""
    found = _attending(request, session, token)
    if isinstance(found, HTMLResponse):
        return found
    appointment, revision, answer = found
    # Lock the visit so an answer and a reschedule cannot interleave.
    session.refresh(appointment, with_for_update=True)
    try:
        attendance.record_answer(
            session,
            appointment=appointment,
            revision=revision,
            confirm=answer == "confirm",
            now=clock.now(),
        )
    except service.AppointmentError as exc:
        session.rollback()
        return _attend_page(request, appointment, answer=answer, closed=str(exc), status_code=409)
    session.commit()
    return _attend_page(request, appointment, answer=answer, done=True)
