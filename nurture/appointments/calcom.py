"""Cal.com's booking webhook, read: its envelope and each payload (`calcom_apply` applies them).

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
  `rescheduleUid`, then BOOKING_CREATED for the new uid (without `rescheduleUid`) once
  confirmed, or BOOKING_REJECTED for the new uid when the host turns it down. The request is
  remembered (`CalcomRequest`) and moves nothing: the visit keeps its time and its reminders
  until the confirmation moves it, and a rejection leaves it as it was. The patient has one
  visit and one set of reminders throughout; the time waiting for the host gets none. A
  confirmation that overtakes its request books the new time on its own; the late request then
  retires the visit it replaces, without a notice.
- A new recurring series that needs confirmation sends BOOKING_REQUESTED for each occurrence
  (handleNewRecurringBooking runs handleNewBooking once per date; each request has its own uid
  and startTime and the series' `recurringEvent` rule). When the host confirms, Cal.com accepts
  the whole series but sends one BOOKING_CREATED, for the occurrence confirmed
  (handleConfirmation). Each occurrence's request is therefore remembered (`CalcomWaiting`,
  see `calcom_series`); that BOOKING_CREATED books every remembered occurrence of the same
  series and patient that has not started, as if each had its own. A rejection of the series
  or a cancel forgets them. A request of a single booking is not remembered: its own
  BOOKING_CREATED books it.
- "Cancel all remaining" of a recurring series sends one BOOKING_CANCELLED that carries the
  series' `recurringEvent` rule (Cal.com's own series id stays inside Cal.com); the visits booked
  in the same series by the same patient that have not started are cancelled with it.
- A no-show (BOOKING_NO_SHOW_UPDATED, AFTER_GUESTS_CAL_VIDEO_NO_SHOW) may name a booking never
  seen here (the webhook was added later, or its BOOKING_CREATED was lost). The visit is then
  first seen as missed and starts what a recent missed visit starts. Cal.com lets a host mark
  a no-show only once the visit has begun and BOOKING_NO_SHOW_UPDATED carries no start, so its
  `createdAt` (the marking) stands in for the start; Cal Video's report carries the start.
- Phone-only bookers have an address `<digits>@sms.cal.com` that must never be mailed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nurture.appointments.schemas import AppointmentIn
from nurture.clinic import service as clinic
from nurture.core import dates, jsonread
from nurture.core.config import get_settings
from nurture.core.phones import maybe_e164
from nurture.leads.schemas import check_language, clean_first_name
from nurture.locations import service as locations
from nurture.outbox.stops import is_phone_only

log = logging.getLogger(__name__)

CREATED, RESCHEDULED, CANCELLED = "BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"
REQUESTED, REJECTED = "BOOKING_REQUESTED", "BOOKING_REJECTED"
NO_SHOW, GUESTS_NO_SHOW = "BOOKING_NO_SHOW_UPDATED", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"
BOOKINGS = frozenset({CREATED, RESCHEDULED, CANCELLED, REQUESTED, REJECTED})
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
    if trigger == REQUESTED and _uid(payload.get("rescheduleUid")) is None and not _series(payload):
        # A new single booking waiting for the host: its BOOKING_CREATED makes it a visit.
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


def _answer(payload: dict[str, Any], name: str) -> object:
    """Return the booker's answer to the form question `name` (None when not asked).

    Cal.com sends every answer as `{"label", "value"}` under `responses`, and the clinic's own
    questions again under `userFieldsResponses`.
    """
    for where in ("responses", "userFieldsResponses"):
        answers = payload.get(where)
        answer = answers.get(name) if isinstance(answers, dict) else None
        if isinstance(answer, dict) and "value" in answer:
            return answer["value"]
        if answer is not None and not isinstance(answer, dict):
            return answer
    return None


def _phone(payload: dict[str, Any], attendee: dict[str, Any]) -> str | None:
    """Return the number the booker gave, as written: the attendee's, else a form answer."""
    candidates = [
        attendee.get("phoneNumber"),
        _answer(payload, "attendeePhoneNumber"),
        _answer(payload, "phone"),
        _answer(payload, "smsReminderNumber"),
        payload.get("smsReminderNumber"),
    ]
    email = str(attendee.get("email", "")).strip()
    if is_phone_only(email):
        candidates.append("+" + email.split("@")[0].lstrip("+"))
    for value in candidates:
        if isinstance(value, str) and 0 < len(value.strip()) <= 40:
            return value.strip()
    return None


def _consented(payload: dict[str, Any], question: str) -> bool:
    """Tell whether the booker ticked the clinic's question agreeing to texts."""
    value = _answer(payload, question)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return value is True


def _series(payload: dict[str, Any]) -> str | None:
    """Name the recurring series a booking belongs to (event type and rule), or None."""
    rule = payload.get("recurringEvent")
    # Cal.com's frequencies are numbers, and YEARLY is 0.
    if not isinstance(rule, dict) or rule.get("freq") is None:
        return None
    kind = payload.get("eventTypeId")
    return f"calcom:{kind}:{rule.get('freq')}/{rule.get('interval', 1)}"[:120]


def waits_in_series(payload: dict[str, Any]) -> bool:
    """Tell whether a BOOKING_REQUESTED is one occurrence of a new series awaiting the host."""
    return _uid(payload.get("rescheduleUid")) is None and _series(payload) is not None


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


def _language(attendee: dict[str, Any]) -> str | None:
    """Return the offered language nearest the attendee's Cal.com locale, or None.

    Cal.com sends `language: {"locale": "es"}` on each attendee (the booking page's language);
    a locale nobody can read is no reason to refuse a real booking.
    """
    language = attendee.get("language")
    locale = language.get("locale") if isinstance(language, dict) else None
    if not isinstance(locale, str) or not locale.strip():
        return None
    try:
        return check_language(locale[:35])
    except ValueError:
        return None


def _time(payload: dict[str, Any], name: str) -> datetime:
    try:
        return dates.parse_moment(str(payload.get(name)))
    except dates.DateError as exc:
        raise CalcomError(422, f"{name}: {exc}", {name: str(exc)}) from exc


def _place(payload: dict[str, Any]) -> str:
    """Return the visit's location: the site its event type or place text maps to, else the text.

    With several sites a booking that maps to none goes to the default site rather than be
    refused (Cal.com would retry it forever); the studio's location page sets the mapping.
    """
    text = location_text(payload)
    kinds: list[str | None] = [
        str(payload[k]) for k in ("eventTypeId", "type") if payload.get(k) is not None
    ]
    for kind in kinds or [None]:
        site = locations.calcom_site(kind, text)
        if site is not None:
            return site.key
    if locations.several():
        log.warning("a Cal.com booking matched no location; it goes to the default one")
        return ""
    return text


def booking(envelope: Envelope) -> AppointmentIn:
    """Turn a booking payload into an appointment; raise CalcomError or ValidationError."""
    payload = envelope.payload
    attendee = _attendee(payload)
    start = _time(payload, "startTime")
    end = _time(payload, "endTime") if payload.get("endTime") else start
    zone = attendee.get("timeZone")
    uid = envelope.uid or ""
    # The number and the consent come with the booking, so its texts are planned with it.
    phone = maybe_e164(_phone(payload, attendee), country=get_settings().clinic_country)
    question = clinic.effective().calcom_sms_consent_question
    return AppointmentIn(
        email=attendee["email"],
        first_name=_first_name(attendee),
        starts_at=start,
        timezone=zone if isinstance(zone, str) else get_settings().clinic_timezone,
        duration_minutes=min(max(int((end - start).total_seconds() // 60), 5), 480),
        location=_place(payload),
        external_id=visit_key(uid, attendee["email"] if seated(payload) else None),
        phone=phone,
        sms_consent=phone is not None and bool(question) and _consented(payload, question),
        language=_language(attendee),
    )
