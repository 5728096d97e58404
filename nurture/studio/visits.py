"""The day view: one day's visits, whether each patient said they will come, how to reach them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.attendance import attendance
from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.schemas import AppointmentPatch
from nurture.core import clock, dates
from nurture.core.config import get_settings
from nurture.http.deps import RowId, SessionDep
from nurture.leads.models import Lead
from nurture.locations import scope
from nurture.locations import service as locations
from nurture.outbox.models import Message, MessageStatus
from nurture.studio import site_scope
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()
# What staff can mark a visit that has begun, in their words.
OUTCOMES = {AppointmentStatus.ATTENDED: "Came", AppointmentStatus.NO_SHOW: "Missed"}


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants a local day in `tz` starts and ends (23 or 25 h across DST)."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end


@router.get("/visits", response_class=HTMLResponse)
def day_view(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    day: Annotated[str | None, Query(max_length=40)] = None,
    location: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """List one day's visits (default tomorrow in the clinic's zone) with each answer.

    With a location, only that site's visits, and the day as it falls in the site's zone.
    """
    sites = site_scope.sites_for(staff)
    site = next((s for s in sites if s.key == location), None)
    tz = ZoneInfo(site.timezone if site else get_settings().clinic_timezone)
    if day:
        try:
            shown = dates.parse_day(day)
        except dates.DateError as exc:
            return page(
                request,
                "message.html",
                staff,
                status_code=422,
                title="Not a day",
                message=f"Day: {exc}, e.g. 2026-12-02.",
                back="/studio/visits",
            )
    else:
        shown = clock.now().astimezone(tz).date() + timedelta(days=1)
    start, end = _day_bounds(shown, tz)
    rows = session.execute(
        select(Appointment, Lead)
        .join(Lead, Lead.id == Appointment.lead_id)
        .where(
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
            Appointment.status != AppointmentStatus.CANCELLED,
            *([scope.visits_at({site.key})] if site else []),
            *site_scope.visit_filter(staff),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()
    sent_by: dict[tuple[int, str], int] = {}
    for appointment_id, channel in session.execute(
        select(Message.appointment_id, Message.channel).where(
            Message.appointment_id.in_([a.id for a, _ in rows]),
            Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN]),
        )
    ):
        key = (int(appointment_id or 0), str(channel))
        sent_by[key] = sent_by.get(key, 0) + 1
    now = clock.now()
    visits = [
        {
            "appointment": appointment,
            "lead": lead,
            "local": appointment.starts_at.astimezone(ZoneInfo(appointment.timezone)),
            "attendance": str(attendance(appointment)),
            "emails": sent_by.get((appointment.id, "email"), 0),
            "texts": sent_by.get((appointment.id, "sms"), 0),
            # Once a visit has begun, staff can say how it went.
            "outcomes": [
                (status, label)
                for status, label in OUTCOMES.items()
                if appointment.starts_at <= now and appointment.status != status
            ],
        }
        for appointment, lead in rows
    ]
    return page(
        request,
        "visits.html",
        staff,
        title=f"Visits on {shown:%A}, {shown.isoformat()}",
        day=shown,
        previous_day=shown - timedelta(days=1),
        next_day=shown + timedelta(days=1),
        visits=visits,
        clinic_zone=str(tz),
        sites=sites,
        site=site,
        chosen_sites={site.key} if site else set(),
        site_names={s.key: s.name for s in sites},
        default_site=locations.default().key,
        site_query=f"&location={site.key}" if site else "",
    )


@router.post("/visits/{appointment_id}/outcome")
def mark_outcome(
    appointment_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    outcome: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Mark a visit that has begun as attended or missed; starts that outcome's journeys."""
    site_scope.check_visit(session, staff, appointment_id)
    appointment = session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise HTTPException(status_code=404, detail="No such visit.")
    tz = ZoneInfo(get_settings().clinic_timezone)
    back = f"{PREFIX}/visits?day={appointment.starts_at.astimezone(tz).date().isoformat()}"
    now = clock.now()
    if outcome not in OUTCOMES:
        return redirect(request, back, "Not changed: choose whether the patient came or missed it.")
    if appointment.starts_at > now:
        return redirect(request, back, "Not changed: the visit has not begun yet.")
    if appointment.status == AppointmentStatus.CANCELLED:
        return redirect(request, back, "Not changed: the visit was cancelled.")
    before = {"status": appointment.status}
    if appointment.status == outcome:
        return redirect(request, back, "Already marked so; nothing changed.")
    appointments.reschedule(
        session, appointment=appointment, patch=AppointmentPatch(status=outcome), now=now
    )
    words = "came" if outcome == AppointmentStatus.ATTENDED else "missed the visit"
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Marked: the patient {words}. What follows that outcome has started.",
        action=f"appointment.{outcome}",
        target=f"appointment {appointment.id}",
        before=before,
        after={"status": appointment.status},
    )
