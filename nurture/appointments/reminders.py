"""A visit's reminders: when each goes out (kept out of quiet hours), and those planned."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment
from nurture.core.config import get_settings
from nurture.outbox.models import Message
from nurture.sequences.schedule import in_quiet_hours

# The message each kind of row sends (an email's template, or a text's of the same name).
TEMPLATES = {
    "confirmation": "appointment_confirmation",
    "reminder": "appointment_reminder",
    "update": "appointment_update",
    "cancellation": "appointment_cancellation",
    "nudge": "appointment_nudge",
}
NUDGE = "nudge"


def reminder_due(starts_at: datetime, hours: int, tz: ZoneInfo) -> datetime:
    """When an `hours`-before reminder goes out, kept out of quiet hours where it can be.

    A reminder a day or more ahead that would land at night moves to the evening before
    (never later than due); a short one (a 2 h reminder for an 08:00 visit) goes at its time.
    """
    due = starts_at - timedelta(hours=hours)
    local = due.astimezone(tz)
    if hours < 12 or not in_quiet_hours(local.hour):
        return due
    evening_hour = (get_settings().quiet_start_hour - 1) % 24
    day = (
        local.date()
        if local.hour >= get_settings().quiet_start_hour
        else (local.date() - timedelta(days=1))
    )
    evening = datetime(day.year, day.month, day.day, evening_hour, tzinfo=tz)
    return min(evening, due)


# The booking (or update) email asks "will you be there?" already: a nudge that would follow
# it within this long only repeats it.
NUDGE_GAP = timedelta(hours=6)


def nudge_unwanted(due: datetime, *, now: datetime, tz: ZoneInfo) -> str | None:
    """Say why a confirmation nudge due at `due` must not go (None: it may)."""
    if due - now < NUDGE_GAP:
        return "the booking email, sent just before, asks already"
    if in_quiet_hours(due.astimezone(tz).hour):
        return "it would arrive in quiet hours"
    return None


def reminders_of(session: Session, appointment: Appointment) -> list[Message]:
    """Return every planned email of an appointment, in due order."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.appointment_id == appointment.id)
            .order_by(Message.due_at, Message.id)
        )
    )
