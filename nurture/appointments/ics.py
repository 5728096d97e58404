"""RFC 5545 calendar events for appointment emails, built with icalendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from nurture.appointments.models import Appointment
from nurture.config import get_settings


def event_uid(appointment: Appointment) -> str:
    """Return the stable UID every version of this appointment's event shares."""
    host = urlsplit(get_settings().base_url).hostname or "nurture.local"
    return f"appointment-{appointment.id}@{host}"


def build(appointment: Appointment, *, attendee: str, cancel: bool, now: datetime) -> bytes:
    """Build the calendar for a confirmation, reminder or update (REQUEST) or a CANCEL.

    It names only the clinic, the time and the place: no reason for the visit.
    """
    s = get_settings()
    tz = ZoneInfo(appointment.timezone)
    start = appointment.starts_at.astimezone(tz)
    calendar = Calendar()
    calendar.add("prodid", "-//Nurture//Appointment reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    event = Event()
    event.add("uid", event_uid(appointment))
    event.add("sequence", appointment.revision)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=appointment.duration_minutes))
    event.add("summary", f"Appointment at {s.clinic_name}")
    event.add("location", appointment.location or s.clinic_address)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{s.transactional_from_email}")
    organizer.params["cn"] = vText(s.clinic_name)
    event.add("organizer", organizer)
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["role"] = vText("REQ-PARTICIPANT")
    event.add("attendee", guest)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
