"""Cal.com's booking webhook: read its envelope, keep each booking's events in order, apply them.

Cal.com signs the body but no timestamp, so a captured request can be replayed at any time
and retries arrive late. Each visit remembers when the last applied change was made (the
envelope's `createdAt`); an event that is not newer changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service
from nurture.appointments.models import Appointment, AppointmentAlias
from nurture.appointments.schemas import AppointmentIn
from nurture.core import dates, jsonread
from nurture.core.config import get_settings
from nurture.leads.schemas import clean_first_name

CREATED, RESCHEDULED, CANCELLED = "BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"
HANDLED = frozenset({CREATED, RESCHEDULED, CANCELLED})
# How Cal.com names its video apps in `location` ("integrations:<app>").
_APPS = {
    "daily": "Cal Video",
    "zoom": "Zoom",
    "google:meet": "Google Meet",
    "office365_video": "Microsoft Teams",
}
# Where a location object (an event type's, or the booker's answer) keeps what a person reads.
_LOCATION_KEYS = ("address", "link", "url", "hostPhoneNumber", "optionValue", "phone")
_LOCATION_LENGTH = 300


class CalcomError(ValueError):
    """A webhook the service cannot apply: 400 for the envelope, 422 for the booking."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.fields = fields or {}


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parts of a Cal.com webhook the service acts on."""

    trigger: str
    created_at: datetime | None
    uid: str | None
    payload: dict[str, Any] = field(repr=False)


def _uid(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def read_envelope(raw: bytes) -> Envelope:
    """Parse `{"triggerEvent", "createdAt", "payload"}`; a handled event needs uid and createdAt."""
    try:
        envelope = jsonread.loads(raw)
    except jsonread.JsonBodyError as exc:
        raise CalcomError(
            exc.status, f"Expected Cal.com's webhook JSON: {exc}", exc.fields
        ) from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("triggerEvent"), str):
        raise CalcomError(400, "Expected an object with a triggerEvent string.")
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise CalcomError(400, "Expected Cal.com's webhook JSON: payload must be an object.")
    trigger = envelope["triggerEvent"]
    if trigger not in HANDLED:
        return Envelope(trigger, None, None, payload)
    uid = _uid(payload.get("uid"))
    if uid is None or len(uid) > 190:
        raise CalcomError(400, f"{trigger} needs the booking's uid (at most 190 characters).")
    if not isinstance(envelope.get("createdAt"), str):
        raise CalcomError(400, "createdAt must be an ISO 8601 time with its offset.")
    return Envelope(trigger, _time(envelope, "createdAt"), uid, payload)


def _link(value: object) -> str | None:
    if isinstance(value, str) and value.strip().startswith(("https://", "http://")):
        return value.strip()
    return None


def location_text(payload: dict[str, Any]) -> str:
    """Return the visit's place as a patient reads it: an address, a link or an app's name."""
    value = payload.get("location")
    if isinstance(value, dict):
        texts = (value.get(k) for k in _LOCATION_KEYS)
        text = next((t.strip() for t in texts if isinstance(t, str) and t.strip()), "")
        kind = value.get("type")
        # Bare kinds ("inPerson") are internal names; only an app's is worth showing.
        integration = isinstance(kind, str) and kind.startswith("integrations:")
        value = text or (kind if integration else "")
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if value.startswith("integrations:"):
        video = payload.get("videoCallData")
        metadata = payload.get("metadata")
        link = _link(video.get("url") if isinstance(video, dict) else None) or _link(
            metadata.get("videoCallUrl") if isinstance(metadata, dict) else None
        )
        app = value.removeprefix("integrations:")
        value = link or f"{_APPS.get(app, app.replace('_', ' ').title())} (online)"
    return value[:_LOCATION_LENGTH]


def _attendee(payload: dict[str, Any]) -> dict[str, Any]:
    attendees = payload.get("attendees")
    if not isinstance(attendees, list) or not attendees:
        raise CalcomError(
            422,
            "attendees must be a non-empty list of people",
            {"attendees": "must be a non-empty list of objects with an email"},
        )
    first = attendees[0]
    if not isinstance(first, dict):
        raise CalcomError(422, "attendees[0] must be an object", {"attendees.0": "not an object"})
    if not isinstance(first.get("email"), str) or not first["email"].strip():
        raise CalcomError(
            422, "attendees[0] has no email", {"attendees.0.email": "missing or not a string"}
        )
    return first


def _first_name(attendee: dict[str, Any]) -> str:
    given = attendee.get("firstName")
    name = attendee.get("name")
    if not (isinstance(given, str) and given.strip()):
        given = name.strip().split(" ")[0] if isinstance(name, str) and name.strip() else ""
    try:
        return clean_first_name(given)
    except ValueError:
        # The booking is real even when its name is unusable in a greeting or a header: refusing
        # it would make Cal.com retry and give up, and the patient would get no reminders. The
        # visit is kept and its emails greet without a name.
        return ""


def _time(payload: dict[str, Any], name: str) -> datetime:
    try:
        return dates.parse_moment(str(payload.get(name)))
    except dates.DateError as exc:
        raise CalcomError(422, f"{name}: {exc}", {name: str(exc)}) from exc


def booking(envelope: Envelope) -> AppointmentIn:
    """Turn a booking payload into an appointment; raise CalcomError or ValidationError."""
    payload = envelope.payload
    attendee = _attendee(payload)
    start = _time(payload, "startTime")
    end = _time(payload, "endTime") if payload.get("endTime") else start
    zone = attendee.get("timeZone")
    return AppointmentIn(
        email=attendee["email"],
        first_name=_first_name(attendee),
        starts_at=start,
        timezone=zone if isinstance(zone, str) else get_settings().clinic_timezone,
        duration_minutes=min(max(int((end - start).total_seconds() // 60), 5), 480),
        location=location_text(payload),
        external_id=f"calcom:{envelope.uid}",
    )


def _current(session: Session, uid: str) -> Appointment | None:
    return session.scalar(
        select(Appointment).where(Appointment.external_id == f"calcom:{uid}").with_for_update()
    )


def _retired(session: Session, uid: str) -> bool:
    return session.get(AppointmentAlias, f"calcom:{uid}") is not None


def _order(appointment: Appointment, created_at: datetime) -> dict[str, Any] | None:
    """Return the answer for an event no newer than the last applied one, else None."""
    last = appointment.source_changed_at
    if last is None or created_at > last:
        return None
    if created_at == last:
        return {"status": "unchanged", "id": appointment.id}
    return {
        "status": "ignored",
        "reason": "a newer change to this booking was already applied",
        "id": appointment.id,
    }


def apply(session: Session, envelope: Envelope, *, now: datetime) -> dict[str, Any]:
    """Apply a created, rescheduled or cancelled booking in order; return what happened."""
    uid, created_at = envelope.uid, envelope.created_at
    if uid is None or created_at is None:
        raise CalcomError(400, f"{envelope.trigger} needs the booking's uid and createdAt.")
    appointment = _current(session, uid)
    if appointment is None and _retired(session, uid):
        return {"status": "ignored", "reason": "this booking was rescheduled into another"}
    if envelope.trigger == CANCELLED:
        if appointment is None:
            # The cancel overtook its booking (each event is sent, and retried, on its own). The
            # cancelled visit it leaves behind makes the older BOOKING_CREATED, when it comes,
            # an event no newer than the last applied one: ignored.
            appointment = service.record_cancelled(session, data=booking(envelope), now=now)
            appointment.source_changed_at = created_at
            return {"status": "cancelled", "id": appointment.id}
        if (stale := _order(appointment, created_at)) is not None:
            return stale
        service.cancel(session, appointment=appointment, now=now)
        appointment.source_changed_at = created_at
        return {"status": "cancelled", "id": appointment.id}
    data = booking(envelope)
    previous = None
    if appointment is None and envelope.trigger == RESCHEDULED:
        old = _uid(envelope.payload.get("rescheduleUid"))
        previous = _current(session, old) if old else None
    target = appointment or previous
    if target is not None and (stale := _order(target, created_at)) is not None:
        return stale
    if previous is not None and previous.external_id is not None:
        # Cal.com gives the moved booking a new uid; the old one stays known as an alias.
        session.add(AppointmentAlias(external_id=previous.external_id, appointment_id=previous.id))
        previous.external_id = data.external_id
        session.flush()
    result = service.book(session, data=data, now=now)
    result.appointment.source_changed_at = created_at
    if result.created:
        state = "booked"
    elif not result.changed:
        state = "unchanged"
    else:
        state = "rescheduled" if envelope.trigger == RESCHEDULED else "updated"
    return {"status": state, "id": result.appointment.id}
