"""The appointments API, the Cal.com booking webhook, and the patient's visit page."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy import select

from nurture import clock
from nurture.appointments import service
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    ReminderOut,
)
from nurture.config import get_settings
from nurture.delivery.compose import appointment_context
from nurture.pages import message_page, render_page
from nurture.studio import tokens
from nurture.studio.models import ApiToken
from nurture.tasks import nudge
from nurture.tokens import InvalidToken, read_token
from nurture.web import SessionDep, validation_response

router = APIRouter()
CALCOM_SIGNATURE = "X-Cal-Signature-256"


def require_token(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> ApiToken:
    """Accept `Authorization: Bearer <token>` for a live API token, else answer 401."""
    scheme, _, value = (authorization or "").partition(" ")
    row = (
        tokens.authenticate(session, token=value.strip(), now=clock.now())
        if scheme.lower() == "bearer"
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
        ReminderOut(name=m.reminder or "", due_at=m.due_at, status=m.status)
        for m in service.reminders_of(session, appointment)
    ]
    return AppointmentOut(
        id=appointment.id,
        external_id=appointment.external_id,
        status=appointment.status,
        starts_at=appointment.starts_at,
        timezone=appointment.timezone,
        revision=appointment.revision,
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
    "/api/appointments", tags=["appointments"], status_code=201, response_model=AppointmentOut
)
def create_appointment(data: AppointmentIn, session: SessionDep, _: ApiClient) -> JSONResponse:
    """Book a visit (or update the one with the same external_id); plans its reminders."""
    try:
        result = service.book(session, data=data, now=clock.now())
    except service.AppointmentError as exc:
        session.rollback()
        return _invalid(exc)
    session.commit()
    nudge()
    return JSONResponse(
        _out(session, result.appointment), status_code=201 if result.created else 200
    )


@router.patch(
    "/api/appointments/{appointment_id}", tags=["appointments"], response_model=AppointmentOut
)
def update_appointment(
    appointment_id: int, patch: AppointmentPatch, session: SessionDep, _: ApiClient
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
    "/api/appointments/{appointment_id}", tags=["appointments"], response_model=AppointmentOut
)
def delete_appointment(appointment_id: int, session: SessionDep, _: ApiClient) -> JSONResponse:
    """Cancel a visit: unsent reminders stop and a cancellation notice goes out."""
    appointment = _get(session, appointment_id)
    service.cancel(session, appointment=appointment, now=clock.now())
    session.commit()
    nudge()
    return JSONResponse(_out(session, appointment))


def _calcom_booking(payload: dict[str, Any]) -> AppointmentIn:
    attendee = (payload.get("attendees") or [{}])[0]
    start = datetime.fromisoformat(str(payload.get("startTime")))
    end = datetime.fromisoformat(str(payload.get("endTime") or payload.get("startTime")))
    return AppointmentIn(
        email=str(attendee.get("email") or ""),
        first_name=str(attendee.get("name") or "").split(" ")[0][:100],
        starts_at=start,
        timezone=str(attendee.get("timeZone") or get_settings().clinic_timezone),
        duration_minutes=max(int((end - start).total_seconds() // 60), 5),
        location=str(payload.get("location") or "")[:300],
        external_id=f"calcom:{payload.get('uid')}",
    )


@router.post("/webhooks/calcom", tags=["webhooks"])
async def calcom_webhook(request: Request, session: SessionDep) -> JSONResponse:
    """Apply Cal.com's BOOKING_CREATED / _RESCHEDULED / _CANCELLED; ignore other events."""
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
    try:
        envelope = json.loads(raw.decode("utf-8"))
        trigger = str(envelope["triggerEvent"])
        payload = envelope["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload must be an object")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return JSONResponse(
            {"error": "malformed_body", "message": f"Expected Cal.com's webhook JSON: {exc}"},
            status_code=400,
        )
    handled = {"BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"}
    if trigger not in handled:
        return JSONResponse({"status": "ignored", "triggerEvent": trigger})
    now = clock.now()
    try:
        result = _apply_calcom(session, trigger, payload, now)
    except ValidationError as exc:
        session.rollback()
        return validation_response(exc.errors())
    except (ValueError, TypeError) as exc:
        session.rollback()
        fields = {"startTime": str(exc)}
        return JSONResponse(
            {"error": "validation_failed", "message": str(exc), "fields": fields},
            status_code=422,
        )
    session.commit()
    nudge()
    return JSONResponse(result)


def _find(session: SessionDep, *uids: object) -> Appointment | None:
    for uid in uids:
        if uid:
            found = session.scalar(
                select(Appointment).where(Appointment.external_id == f"calcom:{uid}")
            )
            if found is not None:
                return found
    return None


def _apply_calcom(
    session: SessionDep, trigger: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    if trigger == "BOOKING_CANCELLED":
        appointment = _find(session, payload.get("uid"))
        if appointment is None:
            return {"status": "ignored", "reason": "unknown booking"}
        service.cancel(session, appointment=appointment, now=now)
        return {"status": "cancelled", "id": appointment.id}
    data = _calcom_booking(payload)
    if trigger == "BOOKING_RESCHEDULED":
        appointment = _find(session, payload.get("uid"), payload.get("rescheduleUid"))
        if appointment is not None:
            appointment.external_id = data.external_id
            patch = AppointmentPatch(
                starts_at=data.starts_at,
                timezone=data.timezone,
                duration_minutes=data.duration_minutes,
                location=data.location,
            )
            same = appointment.starts_at == data.starts_at and appointment.status == "booked"
            if not same:
                service.reschedule(session, appointment=appointment, patch=patch, now=now)
            return {"status": "unchanged" if same else "rescheduled", "id": appointment.id}
    result = service.book(session, data=data, now=now)
    state = "booked" if result.created else ("updated" if result.changed else "unchanged")
    return {"status": state, "id": result.appointment.id}


@router.get("/visit/{token}", response_class=HTMLResponse, include_in_schema=False)
def visit_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a patient their visit and how to move or cancel it."""
    try:
        payload = read_token("visit", token)
    except InvalidToken as exc:
        return message_page(
            request, title="This link does not work", message=str(exc), status_code=400
        )
    appointment_id = payload.get("appointment")
    appointment = (
        session.get(Appointment, appointment_id) if isinstance(appointment_id, int) else None
    )
    if appointment is None:
        return message_page(
            request,
            title="Appointment not found",
            message="This appointment no longer exists.",
            status_code=404,
        )
    return render_page(
        request,
        "visit.html",
        title="Your appointment",
        appointment=appointment,
        phone=get_settings().clinic_phone,
        **appointment_context(appointment),
    )
