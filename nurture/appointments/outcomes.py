"""Visits that arrive with their outcome (came, missed): what they start, and when."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.schemas import AppointmentIn
from nurture.appointments.service import (
    AppointmentError,
    BookResult,
    add_visit,
    mark_outcome,
    outcome_follows,
)
from nurture.core.config import get_settings


def recent_outcome(appointment: Appointment, now: datetime) -> bool:
    """Tell whether a visit with an outcome began recently enough to start its journeys."""
    if appointment.status not in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW):
        return False
    lookback = timedelta(days=get_settings().journey_lookback_days)
    return now - lookback <= appointment.starts_at <= now


def first_seen(session: Session, *, appointment: Appointment, now: datetime) -> bool:
    """A new visit that arrives with its outcome: start what marking it would start, if recent.

    A practice system that exports only finished visits still gets its patients the after-visit
    email, the review request or the no-show offer; a visit older than
    NURTURE_JOURNEY_LOOKBACK_DAYS is history and starts nothing. Return whether it started any.
    """
    if not recent_outcome(appointment, now):
        return False
    session.flush()
    outcome_follows(session, appointment, now)
    session.flush()
    return True


def record_outcome(
    session: Session, *, data: AppointmentIn, status: str, now: datetime
) -> BookResult:
    """Record a visit that arrives with its outcome (the API): new, or an update by external id.

    A new one is stored as it is and starts its outcome's journeys if it began recently; a
    known one is marked as a status change marks it.
    """
    if data.starts_at > now:
        raise AppointmentError(
            f"starts_at is in the future; a visit not yet begun cannot be {status}"
        )
    existing = (
        session.scalar(select(Appointment).where(Appointment.external_id == data.external_id))
        if data.external_id
        else None
    )
    if existing is not None:
        if existing.status == status:
            return BookResult(existing, created=False, changed=False)
        if existing.status == AppointmentStatus.CANCELLED:
            raise AppointmentError(f"the appointment is cancelled; it cannot be marked {status}")
        mark_outcome(session, appointment=existing, status=status, now=now)
        return BookResult(existing, created=False, changed=True)
    _, appointment = add_visit(session, data, status=status, now=now)
    first_seen(session, appointment=appointment, now=now)
    return BookResult(appointment, created=True, changed=True)
