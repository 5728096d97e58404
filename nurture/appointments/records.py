"""What the clinic's records say about visits: history imported quietly, attendance read back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.service import cancel_unsent
from nurture.locations import service as locations


def record_history(
    session: Session,
    *,
    appointment: Appointment,
    starts_at: datetime,
    timezone: str,
    duration_minutes: int,
    location: str,
    status: str,
    now: datetime,
) -> bool:
    """Record what the clinic's records say about a visit, telling the patient nothing.

    For what the patient already knows (a visit that has started, an outcome, a cancellation
    made with the clinic): unsent emails of the visit are cancelled and none is planned.
    Return whether anything changed.
    """
    location_key, place = locations.split_place(location)
    wanted = {
        "starts_at": starts_at,
        "timezone": timezone,
        "duration_minutes": duration_minutes,
        "location": place,
        "location_key": location_key,
        "status": status,
    }
    changed = {k: v for k, v in wanted.items() if getattr(appointment, k) != v}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(appointment, key, value)
    if "starts_at" in changed:
        appointment.confirmed_at = None
        appointment.change_requested_at = None
    appointment.revision += 1
    appointment.updated_at = now
    cancel_unsent(session, appointment, "the clinic's records changed the visit")
    session.flush()
    return True


def last_attended_at(session: Session, *, lead_id: int) -> datetime | None:
    """Return when the lead's latest attended visit started (recalls, reviews), or None."""
    return session.scalar(
        select(func.max(Appointment.starts_at)).where(
            Appointment.lead_id == lead_id, Appointment.status == AppointmentStatus.ATTENDED
        )
    )
