"""One lead in the studio: details, timeline, actions and visits (the list is people_list)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service as appointments
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock, dates, languages
from nurture.core.config import get_settings
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.enrollments.service import exit_active
from nurture.http.deps import RowId, SessionDep
from nurture.http.errors import errors_text
from nurture.leads import erasure, preference_changes, segments, tags, timeline
from nurture.leads import service as leads
from nurture.leads.models import Lead
from nurture.leads.schemas import check_timezone
from nurture.locations import service as locations
from nurture.sequences.models import Sequence
from nurture.staff import audit
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.web import (
    PREFIX,
    AdminDep,
    StaffDep,
    committed,
    download,
    page,
    redirect,
    studio_router,
)

router = studio_router()


def _lead(session: Session, lead_id: int, staff: StaffUser) -> Lead:
    site_scope.check_lead(session, staff, lead_id)
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise HTTPException(status_code=404, detail="No such lead (it may have been deleted).")
    return lead


def _summary(lead: Lead) -> dict[str, object]:
    return {
        "status": lead.status,
        "numbness_type": lead.numbness_type,
        "language": lead.language,
        "paused_until": lead.paused_until.isoformat() if lead.paused_until else None,
        "location": lead.location_key,
    }


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_view(
    lead_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """A lead's details, timeline, sequences and visits, with what staff can do."""
    lead = _lead(session, lead_id, staff)
    active = list(
        session.execute(
            select(Enrollment, Sequence.name)
            .join(Sequence, Sequence.id == Enrollment.sequence_id)
            .where(Enrollment.lead_id == lead.id, Enrollment.status == EnrollmentStatus.ACTIVE)
        )
    )
    seen = site_scope.visits_seen(staff)
    visits = list(
        session.scalars(
            select(Appointment)
            .where(Appointment.lead_id == lead.id, *([seen] if seen is not None else []))
            .order_by(Appointment.starts_at.desc())
        )
    )
    sites = site_scope.sites_for(staff)
    return page(
        request,
        "lead.html",
        staff,
        title=lead.email,
        lead=lead,
        entries=timeline.timeline(session, lead),
        active=active,
        visits=visits,
        zone=lead.timezone or get_settings().clinic_timezone,
        now=clock.now(),
        tags=tags.of_lead(session, lead.id),
        sites=sites,
        site=locations.site(lead.location_key),
        site_names={s.key: s.name for s in sites},
        language_word=segments.language_word,
        languages=[(tag, segments.language_word(tag)) for tag in languages.offered()],
    )


@router.get("/leads/{lead_id}/export")
def lead_export(lead_id: RowId, staff: AdminDep, session: SessionDep) -> Response:
    """Download everything stored about one lead as JSON (a data access request)."""
    lead = _lead(session, lead_id, staff)
    data = timeline.export(session, lead)
    audit.record(session, staff=staff, action="lead.export", target=f"lead {lead.id}")
    session.commit()
    return download(
        json.dumps(data, indent=2, ensure_ascii=False),
        filename=f"lead-{lead.id}.json",
        media_type="application/json",
    )


@router.post("/leads/{lead_id}/action")
def lead_action(
    lead_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    action: Annotated[str, Form()] = "",
    weeks: Annotated[str, Form()] = "2",
    confirm_email: Annotated[str, Form()] = "",
    location: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
) -> Response:
    """Pause, remove from sequences, unsubscribe, change the location or language, or delete."""
    lead = _lead(session, lead_id, staff)
    back = f"{PREFIX}/leads/{lead.id}"
    before = _summary(lead)
    now = clock.now()
    if action == "pause":
        if weeks not in ("2", "4"):
            return redirect(request, back, "Pause for 2 or 4 weeks.")
        until = preference_changes.pause(session, lead=lead, weeks=int(weeks), now=now)
        message = f"Paused until {until:%d %B %Y}."
    elif action == "remove":
        ended = exit_active(session, lead_id=lead.id, reason="staff", at=now, keep_broadcasts=True)
        message = f"Removed from {ended} sequence(s); their unsent emails are cancelled."
    elif action == "unsubscribe":
        changed = leads.unsubscribe(session, lead=lead, now=now)
        message = "Unsubscribed." if changed else "Already unsubscribed."
    elif action == "location":
        wanted = locations.match(location)
        if wanted is None or wanted.key not in {s.key for s in site_scope.sites_for(staff)}:
            return redirect(request, back, "Pick one of the locations.")
        lead.location_key = wanted.key
        message = f"Location is now {wanted.name}."
    elif action == "language":
        if language not in languages.offered():
            return redirect(request, back, "Pick a language from the list.")
        word = segments.language_word(language)
        changed = preference_changes.change_language(session, lead=lead, language=language)
        message = f"Language: {word}." if changed else f"Already {word}."
    elif action == "delete":
        if confirm_email.strip().lower() != lead.email:
            return redirect(request, back, "Not deleted: type the lead's address to confirm.")
        target = f"lead {lead.id}"
        erasure.erase(session, lead=lead, now=now)
        return committed(
            request,
            session,
            staff,
            url=f"{PREFIX}/leads",
            flash="Deleted. The address stays on the suppression list so it is never mailed again.",
            action="lead.delete",
            target=target,
            before=before,
        )
    else:
        raise HTTPException(status_code=422, detail="Unknown action.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=message,
        action=f"lead.{action}",
        target=f"lead {lead.id}",
        before=before,
        after=_summary(lead),
    )


def _local_start(day_time: str, zone: str) -> tuple[datetime | None, str]:
    try:
        tz = ZoneInfo(check_timezone(zone))
    except ValueError as exc:
        return None, f"{exc}."
    try:
        local = datetime.fromisoformat(day_time)
    except ValueError:
        return None, "Give the visit's date and time."
    try:
        dates.check_moment(local, naive_zone=tz)
    except dates.DateError as exc:
        return None, f"{exc}."
    return local.replace(tzinfo=tz), ""


@router.post("/leads/{lead_id}/appointments")
def book(
    lead_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    starts_at: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "30",
    location: Annotated[str, Form()] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    sms_consent: Annotated[str, Form()] = "",
) -> Response:
    """Book a visit for a lead (ends their drip, plans reminders, and texts with consent)."""
    lead = _lead(session, lead_id, staff)
    back = f"{PREFIX}/leads/{lead.id}"
    start, error = _local_start(starts_at, timezone)
    if start is None:
        return redirect(request, back, f"Not booked: {error}")
    try:
        # The lead exists, so its stored name is kept; a name written before names were
        # checked must not stop staff from booking.
        data = AppointmentIn(
            email=lead.email,
            starts_at=start,
            timezone=timezone,
            duration_minutes=int(duration_minutes or 30),
            location=location,
            phone=phone or None,
            sms_consent=bool(sms_consent) and bool(phone.strip()),
        )
        site_scope.check_site(staff, locations.split_place(location)[0])
        result = appointments.book(session, data=data, now=clock.now())
    except ValidationError as exc:
        detail = errors_text(exc.errors())
        return redirect(request, back, f"Not booked: {detail}")
    except (appointments.AppointmentError, ValueError) as exc:
        session.rollback()
        return redirect(request, back, f"Not booked: {exc}")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash="Visit booked; confirmation and reminders are planned.",
        action="appointment.book",
        target=f"lead {lead.id} appointment {result.appointment.id}",
        after={"starts_at": start.isoformat(), "timezone": timezone},
    )


def _appointment(
    session: Session, lead_id: int, appointment_id: int, staff: StaffUser
) -> Appointment:
    site_scope.check_lead(session, staff, lead_id)
    site_scope.check_visit(session, staff, appointment_id)
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.lead_id != lead_id:
        raise HTTPException(status_code=404, detail="No such visit for this lead.")
    return appointment


@router.post("/leads/{lead_id}/appointments/{appointment_id}/move")
def move(
    lead_id: RowId,
    appointment_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    starts_at: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    """Move a visit; its reminders are planned again."""
    appointment = _appointment(session, lead_id, appointment_id, staff)
    back = f"{PREFIX}/leads/{lead_id}"
    zone = timezone or appointment.timezone
    start, error = _local_start(starts_at, zone)
    if start is None:
        return redirect(request, back, f"Not moved: {error}")
    before = {"starts_at": appointment.starts_at.isoformat(), "timezone": appointment.timezone}
    patch = AppointmentPatch(starts_at=start, timezone=zone)
    if not appointments.changes(appointment, patch):
        return redirect(request, back, "Not moved: the visit is already at that time.")
    try:
        appointments.reschedule(session, appointment=appointment, patch=patch, now=clock.now())
    except (appointments.AppointmentError, ValueError) as exc:
        session.rollback()
        return redirect(request, back, f"Not moved: {exc}")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash="Visit moved; the lead gets an update and new reminders.",
        action="appointment.move",
        target=f"appointment {appointment.id}",
        before=before,
        after={"starts_at": start.isoformat(), "timezone": zone},
    )


@router.post("/leads/{lead_id}/appointments/{appointment_id}/cancel")
def cancel(
    lead_id: RowId, appointment_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Cancel a visit; its reminders stop."""
    appointment = _appointment(session, lead_id, appointment_id, staff)
    before = {"status": appointment.status}
    appointments.cancel(session, appointment=appointment, now=clock.now())
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/leads/{lead_id}",
        flash="Visit cancelled; reminders stopped.",
        action="appointment.cancel",
        target=f"appointment {appointment.id}",
        before=before,
        after={"status": appointment.status},
    )
