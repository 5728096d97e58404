"""What a patient says about coming to a visit: "I'll be there" or "I need to change it"."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.service import AppointmentError
from nurture.core.translations import N_


class Attendance(StrEnum):
    """What the patient said about coming to the visit at its current time."""

    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not confirmed"
    CHANGE_REQUESTED = "asked to change"


def attendance(appointment: Appointment) -> Attendance:
    """Return what the patient last said about coming at the visit's current time."""
    if appointment.change_requested_at is not None:
        return Attendance.CHANGE_REQUESTED
    if appointment.confirmed_at is not None:
        return Attendance.CONFIRMED
    return Attendance.NOT_CONFIRMED


def answerable(appointment: Appointment, *, revision: int, now: datetime) -> str | None:
    """Return why a patient's answer about `revision` cannot be taken now, or None if it can."""
    if appointment.status == AppointmentStatus.CANCELLED:
        return N_("This visit has been cancelled.")
    if appointment.status != AppointmentStatus.BOOKED or appointment.starts_at <= now:
        return N_("This visit has already taken place.")
    if revision != appointment.revision:
        return N_("The time of this visit has changed since that email was sent.")
    return None


def record_answer(
    session: Session, *, appointment: Appointment, revision: int, confirm: bool, now: datetime
) -> Appointment:
    """Record "I'll be there" (confirm) or "I need to change it" for the visit's current time.

    Raises AppointmentError when the answer no longer fits the visit (see `answerable`).
    The latest answer wins; the first moment of an unchanged answer is kept.
    """
    reason = answerable(appointment, revision=revision, now=now)
    if reason is not None:
        raise AppointmentError(reason)
    if confirm:
        appointment.change_requested_at = None
        appointment.confirmed_at = appointment.confirmed_at or now
    else:
        appointment.confirmed_at = None
        appointment.change_requested_at = appointment.change_requested_at or now
    appointment.updated_at = now
    session.flush()
    return appointment
