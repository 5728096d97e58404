"""Cal.com's webhook as Cal.com sends it: ordering, replays, odd shapes and large bookings."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageStatus

SECRET = "calcom-test-secret"
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def calcom(settings):  # type: ignore[no-untyped-def]
    settings(calcom_webhook_secret=SECRET)


def booking(uid: str, start: datetime, **extra: Any) -> dict[str, Any]:
    """A BOOKING_* payload shaped like Cal.com's (webhook version 2021-10-20)."""
    iso = lambda t: t.astimezone(UTC).isoformat().replace("+00:00", "Z")  # noqa: E731
    payload: dict[str, Any] = {
        "type": "assessment",
        "title": "Assessment between Dr Example and Cal Doe",
        "description": "",
        "additionalNotes": "",
        "customInputs": {},
        "startTime": iso(start),
        "endTime": iso(start + timedelta(minutes=45)),
        "organizer": {
            "id": 7,
            "name": "Dr Example",
            "email": "dr@clinic.example",
            "username": "dr-example",
            "timeZone": "Europe/Berlin",
            "language": {"locale": "en"},
            "timeFormat": "h:mma",
            "utcOffset": 60,
        },
        "responses": {
            "name": {"label": "your_name", "value": "Cal Doe"},
            "email": {"label": "email_address", "value": "cal@example.com"},
            "location": {
                "label": "location",
                "value": {"optionValue": "", "value": "inPerson"},
            },
            "notes": {"label": "additional_notes", "value": ""},
        },
        "userFieldsResponses": {},
        "attendees": [
            {
                "email": "cal@example.com",
                "name": "Cal Doe",
                "firstName": "Cal",
                "lastName": "Doe",
                "timeZone": "Europe/Berlin",
                "language": {"locale": "en"},
                "utcOffset": 60,
            }
        ],
        "location": "123 Example Street, Room 2",
        "destinationCalendar": None,
        "hideCalendarNotes": False,
        "requiresConfirmation": None,
        "eventTypeId": 42,
        "seatsShowAttendees": True,
        "seatsPerTimeSlot": None,
        "uid": uid,
        "bookingId": 1000 + len(uid),
        "iCalUID": f"{uid}@Cal.com",
        "conferenceData": None,
        "appsStatus": None,
        "eventTitle": "Assessment",
        "eventDescription": "A first look at your numbness.",
        "price": 0,
        "currency": "usd",
        "length": 45,
        "status": "ACCEPTED",
        "metadata": {},
    }
    payload.update(extra)
    return payload


def post(client, trigger: str, payload: dict[str, Any], created: datetime | None):  # type: ignore[no-untyped-def]
    envelope: dict[str, Any] = {"triggerEvent": trigger, "payload": payload}
    if created is not None:
        envelope["createdAt"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = json.dumps(envelope).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with clock.frozen_at(T0 + timedelta(hours=1)):
        return client.post(
            "/webhooks/calcom",
            content=body,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
        )


def _visits(session) -> list[Appointment]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(Appointment).order_by(Appointment.id)))


def _pending(session) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        m.reminder or ""
        for m in session.scalars(select(Message).where(Message.status == MessageStatus.PENDING))
    )


def test_a_replayed_created_after_cancelled_does_not_reopen_or_replan(client, session) -> None:
    created = booking("u1", VISIT)
    assert post(client, "BOOKING_CREATED", created, T0).json()["status"] == "booked"
    cancel = booking("u1", VISIT, status="CANCELLED", cancellationReason="feeling better")
    cancelled = post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=10))
    assert cancelled.json()["status"] == "cancelled"
    pending_after_cancel = _pending(session)
    messages_after_cancel = session.scalar(select(func.count()).select_from(Message))

    replay = post(client, "BOOKING_CREATED", created, T0)
    assert replay.status_code == 200
    assert replay.json()["status"] == "ignored"
    # A late copy of the original created event, or an identical cancel, changes nothing.
    assert post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=10)).json() == {
        "status": "unchanged",
        "id": replay.json()["id"],
    }
    [visit] = _visits(session)
    assert visit.status == "cancelled"
    assert _pending(session) == pending_after_cancel == ["notice@r1"]
    assert session.scalar(select(func.count()).select_from(Message)) == messages_after_cancel


def test_a_cancel_that_overtakes_its_booking_keeps_the_visit_cancelled(client, session) -> None:
    # Cal.com sends each event on its own and retries failures, so the cancel can come first.
    cancel = booking("u9", VISIT, status="CANCELLED", cancellationReason="clash")
    first = post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=10))
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    late = post(client, "BOOKING_CREATED", booking("u9", VISIT), T0)
    assert late.status_code == 200
    assert late.json()["status"] == "ignored"
    [visit] = _visits(session)
    assert (visit.external_id, visit.status) == ("calcom:u9", "cancelled")
    assert visit.starts_at == VISIT
    # The patient heard nothing from us about a visit that was gone before we knew of it.
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    again = post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=10))
    assert again.json() == {"status": "unchanged", "id": visit.id}
    [lead] = session.scalars(select(Lead))
    assert (lead.email, lead.status) == ("cal@example.com", "no_consent")


def test_an_older_reschedule_never_undoes_a_newer_one(client, session) -> None:
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    newer = booking("u2", VISIT + timedelta(days=2), rescheduleUid="u1")
    assert post(client, "BOOKING_RESCHEDULED", newer, T0 + timedelta(minutes=20)).json()[
        "status"
    ] == ("rescheduled")
    # An earlier reschedule to another day, delivered late (Cal.com retries failed deliveries).
    older = booking("u2", VISIT + timedelta(days=1), rescheduleUid="u1")
    late = post(client, "BOOKING_RESCHEDULED", older, T0 + timedelta(minutes=10))
    assert late.status_code == 200
    assert late.json()["status"] == "ignored"
    [visit] = _visits(session)
    assert visit.starts_at == VISIT + timedelta(days=2)
    assert visit.revision == 1


def test_a_late_event_for_a_rescheduled_uid_books_no_second_visit(client, session) -> None:
    first = booking("u1", VISIT)
    post(client, "BOOKING_CREATED", first, T0)
    post(
        client,
        "BOOKING_RESCHEDULED",
        booking("u2", VISIT + timedelta(days=1), rescheduleUid="u1"),
        T0 + timedelta(minutes=10),
    )
    post(
        client,
        "BOOKING_RESCHEDULED",
        booking("u3", VISIT + timedelta(days=2), rescheduleUid="u2"),
        T0 + timedelta(minutes=20),
    )
    for trigger, payload, at in [
        ("BOOKING_CREATED", first, T0),
        ("BOOKING_RESCHEDULED", booking("u2", VISIT + timedelta(days=1), rescheduleUid="u1"), T0),
        ("BOOKING_CANCELLED", booking("u1", VISIT), T0 + timedelta(minutes=30)),
    ]:
        response = post(client, trigger, payload, at)
        assert response.status_code == 200
        assert response.json()["status"] == "ignored", (trigger, response.json())
    [visit] = _visits(session)
    assert (visit.external_id, visit.status) == ("calcom:u3", "booked")
    assert visit.starts_at == VISIT + timedelta(days=2)


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in booking("x", VISIT).items() if k != "uid"},
        {**booking("x", VISIT), "uid": None},
        {**booking("x", VISIT), "uid": ""},
        {**booking("x", VISIT), "uid": {"id": 1}},
    ],
)
def test_events_without_a_uid_get_400(client, session, payload) -> None:
    for trigger in ("BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"):
        response = post(client, trigger, payload, T0)
        assert response.status_code == 400, response.text
        assert "uid" in response.json()["message"]
    assert _visits(session) == []
    assert session.scalars(select(Lead)).all() == []


def test_a_number_of_thousands_of_digits_is_a_422_naming_it(client, session) -> None:
    envelope = {"triggerEvent": "BOOKING_CREATED", "createdAt": T0.isoformat(), "payload": {}}
    envelope["payload"] = booking("u1", VISIT, bookingId="HUGE")
    body = json.dumps(envelope).replace('"HUGE"', "9" * 5000).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with clock.frozen_at(T0 + timedelta(hours=1)):
        response = client.post(
            "/webhooks/calcom",
            content=body,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
        )
    assert response.status_code == 422, response.text
    assert "too many digits" in response.json()["fields"]["payload.bookingId"]
    assert _visits(session) == []


def test_events_without_created_at_get_400(client, session) -> None:
    response = post(client, "BOOKING_CREATED", booking("u1", VISIT), None)
    assert response.status_code == 400
    assert "createdAt" in response.json()["message"]
    assert _visits(session) == []


@pytest.mark.parametrize(
    ("attendees", "field"),
    [
        ({"email": "cal@example.com", "name": "Cal"}, "attendees"),
        ([], "attendees"),
        (None, "attendees"),
        (["cal@example.com"], "attendees.0"),
        ([{"name": "Cal Doe", "timeZone": "Europe/Berlin"}], "attendees.0.email"),
        ([{"email": 12, "name": "Cal"}], "attendees.0.email"),
        ([{"email": "not an address", "name": "Cal"}], "email"),
    ],
)
def test_malformed_attendees_get_422(client, session, attendees, field) -> None:
    response = post(client, "BOOKING_CREATED", booking("u1", VISIT, attendees=attendees), T0)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"], response.json()
    assert response.json()["message"]
    assert _visits(session) == []
    assert session.scalars(select(Lead)).all() == []


@pytest.mark.parametrize(
    "attendee",
    [
        {"email": "cal@example.com", "name": "=?utf-8?q?Admin?= Doe"},
        {"email": "cal@example.com", "name": "Cal\u202edeR"},
        {"email": "cal@example.com", "firstName": "Ca\nl", "name": "Cal"},
        {"email": "cal@example.com", "name": "Ann\u2028Bcc: evil@example.com"},
    ],
)
def test_a_name_unfit_for_greetings_keeps_the_booking_without_it(client, session, attendee) -> None:
    response = post(client, "BOOKING_CREATED", booking("u1", VISIT, attendees=[attendee]), T0)
    assert response.status_code == 200, response.text
    [visit] = _visits(session)
    assert visit.status == "booked"
    assert session.scalars(select(Lead.first_name)).all() == [""]


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ({"location": {"type": "inPerson", "address": "12 Spine Road"}}, "12 Spine Road"),
        (
            {"location": {"type": "attendeeInPerson", "address": "", "optionValue": "5 Elm St"}},
            "5 Elm St",
        ),
        ({"location": {"type": "inPerson"}}, ""),
        (
            {"location": {"type": "link", "link": "https://meet.clinic.example/r/1"}},
            "https://meet.clinic.example/r/1",
        ),
        (
            {
                "location": "integrations:daily",
                "videoCallData": {
                    "type": "daily_video",
                    "id": "abc",
                    "password": "",
                    "url": "https://app.cal.com/video/u1",
                },
            },
            "https://app.cal.com/video/u1",
        ),
        (
            {"location": "integrations:zoom", "metadata": {"videoCallUrl": "https://zoom.us/j/1"}},
            "https://zoom.us/j/1",
        ),
        ({"location": "integrations:office365_video"}, "Microsoft Teams (online)"),
        ({"location": None}, ""),
        ({"location": ["a", "b"]}, ""),
    ],
)
def test_location_is_shown_as_an_address_or_link(client, session, extra, shown) -> None:
    response = post(client, "BOOKING_CREATED", booking("u1", VISIT, **extra), T0)
    assert response.status_code == 200, response.text
    [visit] = _visits(session)
    assert visit.location == shown
    assert "{" not in visit.location
    assert "[" not in visit.location


def test_long_notes_descriptions_and_responses_are_accepted(client, session) -> None:
    notes = "My left leg goes numb after sitting for an hour. " * 800  # about 40 KB
    payload = booking(
        "u1",
        VISIT,
        description=notes,
        additionalNotes=notes,
        eventDescription=notes,
    )
    responses = copy.deepcopy(payload["responses"])
    responses["notes"]["value"] = notes
    responses["history"] = {"label": "What have you tried?", "value": notes}
    payload["responses"] = responses
    payload["metadata"] = {"videoCallUrl": "https://app.cal.com/video/u1", "notes": notes[:500]}
    response = post(client, "BOOKING_CREATED", payload, T0)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["status"] == "booked"
    [visit] = _visits(session)
    assert visit.lead_id is not None
    lead = session.get(Lead, visit.lead_id)
    assert lead is not None
    assert lead.first_name == "Cal"
