"""Cal.com's booking webhook: read its envelope, keep each booking's events in order, apply them.

Cal.com signs the body but no timestamp, so a captured request can be replayed at any time
and events arrive out of order. Each visit remembers when the last applied change was made (the
envelope's `createdAt`); an event that is not newer changes nothing.

Cal.com sends each event once and does not retry a refusal, so every trigger it can send is
answered 2xx (unknown ones are logged and ignored); only a wrong signature is refused.

How Cal.com shapes what it sends (read from its source):
- A seated event keeps one booking uid for every seat; each seat's booking event names the seat
  (`attendeeSeatId`) and lists the seat's booker among everyone seated. A visit here belongs to
  one seat: it is keyed by the uid and the booker's address.
- A reschedule that needs the host's confirmation comes as BOOKING_REQUESTED with
  `rescheduleUid`, then BOOKING_CREATED for the new uid once confirmed: the request moves the
  visit, so the patient keeps one visit and one set of reminders.
- "Cancel all remaining" of a recurring series sends one BOOKING_CANCELLED that carries the
  series' `recurringEvent` rule (Cal.com's own series id stays inside Cal.com); the visits booked
  in the same series by the same patient that have not started are cancelled with it.
- Phone-only bookers have an address `<digits>@sms.cal.com` that must never be mailed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service
from nurture.appointments.models import Appointment, AppointmentAlias, AppointmentStatus
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import dates, jsonread
from nurture.core.config import get_settings
from nurture.delivery.stops import is_phone_only
from nurture.leads.schemas import clean_first_name

log = logging.getLogger(__name__)

CREATED, RESCHEDULED, CANCELLED = "BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"
REQUESTED = "BOOKING_REQUESTED"
NO_SHOW, GUESTS_NO_SHOW = "BOOKING_NO_SHOW_UPDATED", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"
BOOKINGS = frozenset({CREATED, RESCHEDULED, CANCELLED, REQUESTED})
NO_SHOWS = frozenset({NO_SHOW, GUESTS_NO_SHOW})
HANDLED = BOOKINGS | NO_SHOWS
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
    """Parse `{"triggerEvent", "createdAt", "payload"}`; a handled event needs uid and createdAt.

    MEETING_STARTED / MEETING_ENDED carry the booking beside `triggerEvent`, with no `payload`.
    """
    try:
        envelope = jsonread.loads(raw)
    except jsonread.JsonBodyError as exc:
        raise CalcomError(
            exc.status, f"Expected Cal.com's webhook JSON: {exc}", exc.fields
        ) from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("triggerEvent"), str):
        raise CalcomError(400, "Expected an object with a triggerEvent string.")
    trigger = envelope["triggerEvent"]
    payload = envelope.get("payload")
    if trigger not in HANDLED:
        if not isinstance(payload, dict):
            payload = {k: v for k, v in envelope.items() if k != "triggerEvent"}
        return Envelope(trigger, None, None, payload)
    if not isinstance(payload, dict):
        raise CalcomError(400, "Expected Cal.com's webhook JSON: payload must be an object.")
    if trigger == REQUESTED and _uid(payload.get("rescheduleUid")) is None:
        # A new booking waiting for the host: it becomes a visit with its BOOKING_CREATED.
        return Envelope(trigger, None, None, payload)
    uid = _uid(payload.get("bookingUid") if trigger in NO_SHOWS else payload.get("uid"))
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
        # Cal.com's own video page (metadata.videoCallUrl) first: the raw room link
        # (videoCallData.url, a Daily room for Cal Video) skips Cal.com's waiting room.
        video = payload.get("videoCallData")
        metadata = payload.get("metadata")
        link = _link(metadata.get("videoCallUrl") if isinstance(metadata, dict) else None) or _link(
            video.get("url") if isinstance(video, dict) else None
        )
        app = value.removeprefix("integrations:")
        value = link or f"{_APPS.get(app, app.replace('_', ' ').title())} (online)"
    return value[:_LOCATION_LENGTH]


def _attendees(payload: dict[str, Any]) -> list[dict[str, Any]]:
    attendees = payload.get("attendees")
    if not isinstance(attendees, list) or not attendees:
        raise CalcomError(
            422,
            "attendees must be a non-empty list of people",
            {"attendees": "must be a non-empty list of objects with an email"},
        )
    for index, person in enumerate(attendees):
        if not isinstance(person, dict):
            raise CalcomError(
                422,
                f"attendees[{index}] must be an object",
                {f"attendees.{index}": "not an object"},
            )
        if not isinstance(person.get("email"), str) or not person["email"].strip():
            raise CalcomError(
                422,
                f"attendees[{index}] has no email",
                {f"attendees.{index}.email": "missing or not a string"},
            )
    return attendees


def seated(payload: dict[str, Any]) -> bool:
    """Tell whether the booking is one seat of a seated event (each seat is its own visit)."""
    seats = payload.get("seatsPerTimeSlot")
    has_seats = isinstance(seats, int) and not isinstance(seats, bool) and seats > 0
    return has_seats or _uid(payload.get("attendeeSeatId")) is not None


def _booker_email(payload: dict[str, Any]) -> str | None:
    responses = payload.get("responses")
    email = responses.get("email") if isinstance(responses, dict) else None
    value = email.get("value") if isinstance(email, dict) else None
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _attendee(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the person the visit is for: the booker (for a seat, the seat's own booker)."""
    attendees = _attendees(payload)
    if not seated(payload):
        return attendees[0]
    # A new seat lists everyone already seated, then the one who just booked it.
    booker = _booker_email(payload)
    found = [a for a in attendees if a["email"].strip().lower() == booker]
    return found[0] if found else attendees[-1]


def visit_key(uid: str, email: str | None = None) -> str:
    """Return a visit's external id: the booking's uid, plus the booker's address for a seat."""
    if email is None:
        return f"calcom:{uid}"
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]
    return f"calcom:{uid}#seat:{digest}"


def _phone(payload: dict[str, Any], attendee: dict[str, Any]) -> str | None:
    responses = payload.get("responses")
    answer = responses.get("attendeePhoneNumber") if isinstance(responses, dict) else None
    candidates = [
        attendee.get("phoneNumber"),
        answer.get("value") if isinstance(answer, dict) else None,
        payload.get("smsReminderNumber"),
    ]
    email = str(attendee.get("email", "")).strip()
    if is_phone_only(email):
        candidates.append("+" + email.split("@")[0].lstrip("+"))
    for value in candidates:
        if isinstance(value, str) and 0 < len(value.strip()) <= 40:
            return value.strip()
    return None


def _series(payload: dict[str, Any]) -> str | None:
    """Name the recurring series a booking belongs to (event type and rule), or None."""
    rule = payload.get("recurringEvent")
    # Cal.com's frequencies are numbers, and YEARLY is 0.
    if not isinstance(rule, dict) or rule.get("freq") is None:
        return None
    kind = payload.get("eventTypeId")
    return f"calcom:{kind}:{rule.get('freq')}/{rule.get('interval', 1)}"[:120]


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
    uid = envelope.uid or ""
    return AppointmentIn(
        email=attendee["email"],
        first_name=_first_name(attendee),
        starts_at=start,
        timezone=zone if isinstance(zone, str) else get_settings().clinic_timezone,
        duration_minutes=min(max(int((end - start).total_seconds() // 60), 5), 480),
        location=location_text(payload),
        external_id=visit_key(uid, attendee["email"] if seated(payload) else None),
    )


def _current(session: Session, key: str) -> Appointment | None:
    return session.scalar(
        select(Appointment).where(Appointment.external_id == key).with_for_update()
    )


def _retired(session: Session, key: str) -> bool:
    return session.get(AppointmentAlias, key) is not None


def _retire(session: Session, key: str, appointment: Appointment) -> None:
    if session.get(AppointmentAlias, key) is None:
        session.add(AppointmentAlias(external_id=key, appointment_id=appointment.id))


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


def _keys(envelope: Envelope) -> list[str]:
    """The visits a cancel or no-show names: one per listed attendee of a seated booking."""
    uid = envelope.uid or ""
    if not seated(envelope.payload):
        return [visit_key(uid)]
    people = envelope.payload.get("attendees")
    emails = [
        p["email"]
        for p in (people if isinstance(people, list) else [])
        if isinstance(p, dict) and isinstance(p.get("email"), str) and p["email"].strip()
    ]
    return [visit_key(uid, email) for email in emails]


def apply(session: Session, envelope: Envelope, *, now: datetime) -> dict[str, Any]:
    """Apply a booking event (created, moved, cancelled, no-show) in order; say what happened."""
    uid, created_at = envelope.uid, envelope.created_at
    if uid is None or created_at is None:
        raise CalcomError(400, f"{envelope.trigger} needs the booking's uid and createdAt.")
    if envelope.trigger in NO_SHOWS:
        return _no_show(session, envelope, now=now)
    if envelope.trigger == CANCELLED:
        if seated(envelope.payload):
            # A seat's cancel lists only that seat's booker; the host's cancel lists everyone.
            results = [_cancel(session, envelope, key, now=now) for key in _keys(envelope)]
            return results[0] if len(results) == 1 else {"status": "cancelled", "visits": results}
        cancelled = _cancel(session, envelope, visit_key(uid), now=now)
        if _series(envelope.payload) is not None and cancelled.get("id") is not None:
            cancelled["series_cancelled"] = _cancel_series(session, cancelled["id"], now=now)
        return cancelled
    data = booking(envelope)
    key = data.external_id or visit_key(uid)
    appointment = _current(session, key)
    if appointment is None and _retired(session, key):
        return {"status": "ignored", "reason": "this booking was rescheduled into another"}
    previous, old_key = None, None
    if appointment is None and envelope.trigger in (RESCHEDULED, REQUESTED):
        old = _uid(envelope.payload.get("rescheduleUid"))
        if old is not None:
            old_key = visit_key(old, data.email if seated(envelope.payload) else None)
            previous = _current(session, old_key)
    target = appointment or previous
    if target is not None and (stale := _order(target, created_at)) is not None:
        return stale
    if previous is not None and previous.external_id is not None:
        # Cal.com gives the moved booking a new uid; the old one stays known as an alias.
        _retire(session, previous.external_id, previous)
        previous.external_id = key
        session.flush()
    result = service.book(session, data=data, now=now)
    visit = result.appointment
    visit.source_changed_at = created_at
    visit.phone = _phone(envelope.payload, _attendee(envelope.payload)) or visit.phone
    visit.series = _series(envelope.payload) or visit.series
    if old_key is not None and previous is None:
        # The move overtook the booking it moves: the old uid's events, when they come, are
        # for this visit and change nothing.
        _retire(session, old_key, visit)
    session.flush()
    if result.created:
        state = "booked"
    elif not result.changed:
        state = "unchanged"
    else:
        state = "rescheduled" if envelope.trigger in (RESCHEDULED, REQUESTED) else "updated"
    return {"status": state, "id": visit.id}


def _cancel(session: Session, envelope: Envelope, key: str, *, now: datetime) -> dict[str, Any]:
    created_at = envelope.created_at
    assert created_at is not None
    appointment = _current(session, key)
    if appointment is None and _retired(session, key):
        return {"status": "ignored", "reason": "this booking was rescheduled into another"}
    if appointment is None:
        # The cancel overtook its booking (each event is sent on its own). The cancelled visit
        # it leaves behind makes the older BOOKING_CREATED, when it comes, an event no newer
        # than the last applied one: ignored.
        data = booking(envelope).model_copy(update={"external_id": key})
        if seated(envelope.payload):
            person = next(
                p
                for p in _attendees(envelope.payload)
                if visit_key(envelope.uid or "", p["email"]) == key
            )
            data = data.model_copy(update={"email": person["email"].strip().lower()})
        appointment = service.record_cancelled(session, data=data, now=now)
        appointment.source_changed_at = created_at
        return {"status": "cancelled", "id": appointment.id}
    if (stale := _order(appointment, created_at)) is not None:
        return stale
    service.cancel(session, appointment=appointment, now=now)
    appointment.source_changed_at = created_at
    return {"status": "cancelled", "id": appointment.id}


def _cancel_series(session: Session, appointment_id: int, *, now: datetime) -> list[int]:
    """Cancel the visits of the same patient's series that have not started ("all remaining")."""
    first = session.get(Appointment, appointment_id)
    if first is None or first.series is None:
        return []
    rest = session.scalars(
        select(Appointment)
        .where(
            Appointment.lead_id == first.lead_id,
            Appointment.series == first.series,
            Appointment.id != first.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at)
        .with_for_update()
    ).all()
    for visit in rest:
        service.cancel(session, appointment=visit, now=now)
    return [v.id for v in rest]


def _no_show(session: Session, envelope: Envelope, *, now: datetime) -> dict[str, Any]:
    """Mark the visits of the attendees Cal.com reports missing as missed (the no-show path)."""
    uid = envelope.uid or ""
    people = envelope.payload.get("attendees")
    listed = [p for p in (people if isinstance(people, list) else []) if isinstance(p, dict)]
    flagged = [p for p in listed if p.get("noShow") is True]
    if envelope.trigger == NO_SHOW:
        missing = flagged  # the host may also clear a mark (noShow false): nothing to start
    else:
        missing = flagged or listed  # "the guest didn't join": every attendee of the booking
    emails = {str(p.get("email", "")).strip().lower() for p in missing} - {""}
    keys = [visit_key(uid)] + [visit_key(uid, e) for e in sorted(emails)]
    marked: list[int] = []
    for key in keys:
        appointment = _current(session, key) or _aliased(session, key)
        if appointment is None or appointment.status != AppointmentStatus.BOOKED:
            continue
        if key == visit_key(uid) and emails and not _lead_email_in(session, appointment, emails):
            continue
        service.reschedule(
            session,
            appointment=appointment,
            patch=AppointmentPatch(status="no_show"),
            now=now,
        )
        marked.append(appointment.id)
    if not marked:
        return {"status": "ignored", "reason": "no booked visit of this booking was missed"}
    return {"status": "no_show", "ids": marked}


def _aliased(session: Session, key: str) -> Appointment | None:
    alias = session.get(AppointmentAlias, key)
    return session.get(Appointment, alias.appointment_id) if alias is not None else None


def _lead_email_in(session: Session, appointment: Appointment, emails: set[str]) -> bool:
    from nurture.leads.models import Lead

    lead = session.get(Lead, appointment.lead_id)
    return lead is not None and lead.email.strip().lower() in emails
