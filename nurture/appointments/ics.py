"""RFC 5545 calendar events for appointment emails, built with icalendar.

Which iTIP method (RFC 5546): Nurture reads no replies to these emails, so nothing in them may
invite one. A REQUEST with an ATTENDEE makes Gmail, Outlook and Apple Mail show Yes / No /
Maybe buttons whose answers would go unread, and a patient who pressed "No" would believe the
clinic knew. So a booking, a reminder and a move are a PUBLISH (no ATTENDEE, as RFC 5546 3.2.1
requires): the client offers "add to calendar", and a later PUBLISH with the same UID and a
higher SEQUENCE replaces the stored copy. A cancellation is a CANCEL: it is the organizer's
one-way notice, iTIP defines no reply to it, and it is the method clients act on to take the
event off the calendar (a PUBLISH with STATUS:CANCELLED is often kept as an ordinary event).
RFC 5546 3.2.5 requires the CANCEL to name the attendees it removes, so it names the patient,
with RSVP=FALSE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from nurture.appointments.models import Appointment
from nurture.core.config import get_settings
from nurture.core.languages import choose_leniently
from nurture.core.translations import N_, gettext_in
from nurture.locations import service as locations

PUBLISH = "PUBLISH"
CANCEL = "CANCEL"


def method(*, cancel: bool) -> str:
    """Return the iTIP method of the calendar for a notice (also the MIME `method` parameter)."""
    return CANCEL if cancel else PUBLISH


def build(
    appointment: Appointment,
    *,
    attendee: str,
    cancel: bool,
    now: datetime,
    language: str | None = None,
) -> bytes:
    """Build the calendar for a confirmation, reminder or update (PUBLISH) or a CANCEL.

    It names only the clinic, the time and the place: no reason for the visit.
    """
    s = get_settings()
    site = locations.site(appointment.location_key)
    tz = ZoneInfo(appointment.timezone)
    start = appointment.starts_at.astimezone(tz)
    calendar = Calendar()
    calendar.add("prodid", "-//Nurture//Appointment reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method(cancel=cancel))
    event = Event()
    event.add("uid", appointment.calendar_uid)
    event.add("sequence", appointment.revision)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=appointment.duration_minutes))
    chosen = choose_leniently(language)
    summary = gettext_in(chosen, N_("Appointment at %(clinic)s")) % {"clinic": site.name}
    event.add("summary", summary, parameters={"language": chosen})
    event.add("location", appointment.location or site.address)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{s.transactional_from_email}")
    organizer.params["cn"] = vText(site.name)
    event.add("organizer", organizer)
    if cancel:
        guest = vCalAddress(f"mailto:{attendee}")
        guest.params["role"] = vText("REQ-PARTICIPANT")
        guest.params["rsvp"] = vText("FALSE")
        event.add("attendee", guest)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
