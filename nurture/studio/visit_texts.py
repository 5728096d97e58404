"""A booked visit's mobile number and text consent, as staff add or change them."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from nurture.appointments import texting
from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.phones import InvalidPhone, to_e164
from nurture.http.deps import RowId, SessionDep
from nurture.leads.models import Lead
from nurture.outbox.models import SmsSuppression
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()


def _visit(
    session: SessionDep, appointment_id: int, staff: StaffUser, *, lock: bool = False
) -> Appointment:
    site_scope.check_visit(session, staff, appointment_id)
    appointment = session.get(Appointment, appointment_id, with_for_update=lock)
    if appointment is None:
        raise HTTPException(status_code=404, detail="No such visit.")
    return appointment


def _page(
    request: Request,
    staff: StaffUser,
    session: SessionDep,
    appointment: Appointment,
    *,
    phone: str | None = None,
    sms_consent: bool | None = None,
    error: str | None = None,
) -> HTMLResponse:
    now = texting.texting_of(session, appointment)
    return page(
        request,
        "visit_texts.html",
        staff,
        status_code=422 if error else 200,
        title="Phone and texts",
        appointment=appointment,
        lead=session.get(Lead, appointment.lead_id),
        local=appointment.starts_at.astimezone(ZoneInfo(appointment.timezone)),
        phone=appointment.phone or "" if phone is None else phone,
        sms_consent=now.sms_consent if sms_consent is None else sms_consent,
        error=error,
        country=get_settings().clinic_country,
        texts_on=get_settings().texts_enabled,
    )


@router.get("/visits/{appointment_id}/texts", response_class=HTMLResponse)
def visit_texts(
    appointment_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """Show a visit's mobile number and whether the patient agreed to texts, to change them."""
    return _page(request, staff, session, _visit(session, appointment_id, staff))


@router.post("/visits/{appointment_id}/texts", response_model=None)
def save_visit_texts(
    appointment_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    sms_consent: Annotated[str, Form(max_length=10)] = "",
) -> Response | HTMLResponse:
    """Store the number and consent; consent plans the texts still ahead, no consent stops them."""
    appointment = _visit(session, appointment_id, staff, lock=True)
    url = f"{PREFIX}/visits/{appointment.id}/texts"
    agreed = bool(sms_consent)
    if appointment.status != AppointmentStatus.BOOKED:
        return redirect(request, url, "Not changed: the visit is no longer booked.")
    number: str | None = None
    error = None
    if phone.strip():
        try:
            number = to_e164(phone, country=get_settings().clinic_country)
        except InvalidPhone as exc:
            error = f"Mobile number: {exc}."
    elif agreed:
        error = "Mobile number: add the patient's mobile number to send them texts."
    if error is not None:
        return _page(
            request, staff, session, appointment, phone=phone, sms_consent=agreed, error=error
        )
    before, after = texting.change_texting(
        session,
        appointment=appointment,
        phone=number,
        sms_consent=agreed,
        source=f"recorded in the studio by {staff.email}",
        now=clock.now(),
    )
    if before == after:
        session.rollback()
        return redirect(request, url, "Nothing changed.")
    stopped = number is not None and session.scalar(
        select(SmsSuppression.reason).where(SmsSuppression.phone == number)
    )
    if after.sms_consent and stopped:
        flash = (
            "Saved, but this number asked for no texts (it replied STOP, or its network refuses "
            "them): none go until the patient texts START."
        )
    elif after.sms_consent and not before.sms_consent:
        flash = "Saved. Texts are planned for the reminders still ahead."
    elif before.sms_consent and not after.sms_consent:
        flash = "Saved. No more texts go to this patient; texts not yet sent are cancelled."
    else:
        flash = "Saved."
    return committed(
        request,
        session,
        staff,
        url=url,
        flash=flash,
        action="appointment.texting",
        target=f"appointment {appointment.id}",
        before=before.as_dict(),
        after=after.as_dict(),
    )
