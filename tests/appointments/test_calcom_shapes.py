"""Cal.com's webhook shaped as Cal.com really sends it: confirmations, seats, series, no-shows.

Payloads are built from Cal.com's source (calcom/cal.com), not from memory:
- booking envelope and fields: packages/features/webhooks/lib/sendPayload.ts (the
  `{triggerEvent, createdAt, payload}` envelope), packages/features/webhooks/lib/factory/
  versioned/v2021-10-20/BookingPayloadBuilder.ts (BOOKING_REQUESTED is status PENDING, the
  reschedule fields, the no-show payload `{bookingUid, bookingId, attendees, message}`),
  packages/types/Calendar.d.ts (CalendarEvent: attendeeSeatId, seatsPerTimeSlot,
  recurringEvent);
- seats: packages/features/bookings/lib/handleSeats/handleSeats.ts and create/createNewSeat.ts
  (a new seat's event lists everyone seated, then the new booker, with `attendeeSeatId`),
  handleSeats/cancel/cancelAttendeeSeat.ts (a seat's BOOKING_CANCELLED lists only that seat);
- requests and series at booking: packages/features/bookings/lib/handleNewBooking.ts (the
  webhook data carries rescheduleUid; each occurrence of a recurring series gets
  `evt.recurringEvent`, the event type's rule with the booked count);
- series: packages/features/bookings/lib/handleCancelBooking.ts ("cancel all remaining" sends
  one BOOKING_CANCELLED with `recurringEvent`, and cancels the series by its recurringEventId,
  which the payload does not carry);
- MEETING_STARTED / MEETING_ENDED: packages/features/webhooks/lib/scheduleTrigger.ts (the body
  is `{triggerEvent, ...booking}`, no payload envelope);
- AFTER_GUESTS_CAL_VIDEO_NO_SHOW: packages/features/tasker/tasks/triggerNoShow/common.ts
  (sendGenericWebhookPayload with bookingUid, attendees, participants, message).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.delivery import service as delivery
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences import service as sequences
from nurture.sequences.files import parse_sequence
from tests.appointments.test_calcom import SECRET, T0, VISIT, booking
from tests.factories import make_lead


@pytest.fixture(autouse=True)
def calcom(settings):  # type: ignore[no-untyped-def]
    settings(calcom_webhook_secret=SECRET)


def send(client, body: dict[str, Any], *, at: datetime | None = None):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    signature = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    with clock.frozen_at(at or T0 + timedelta(hours=1)):
        return client.post(
            "/webhooks/calcom",
            content=raw,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
        )


def post(client, trigger: str, payload: dict[str, Any], created: datetime, **kw: Any):  # type: ignore[no-untyped-def]
    stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return send(client, {"triggerEvent": trigger, "createdAt": stamp, "payload": payload}, **kw)


def visits(session) -> list[Appointment]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(Appointment).order_by(Appointment.id)))


def pending(session, visit: Appointment) -> list[str]:  # type: ignore[no-untyped-def]
    rows = session.scalars(
        select(Message).where(
            Message.appointment_id == visit.id, Message.status == MessageStatus.PENDING
        )
    )
    return sorted(m.reminder or "" for m in rows)


def _live(session) -> list[Appointment]:  # type: ignore[no-untyped-def]
    return [v for v in visits(session) if v.status == "booked"]


def _planned_reminders(session) -> list[int]:  # type: ignore[no-untyped-def]
    """The visits that have reminders waiting (one entry per visit)."""
    rows = session.scalars(
        select(Message.appointment_id).where(
            Message.status == MessageStatus.PENDING, Message.reminder.like("%h@r%")
        )
    )
    return sorted(set(rows))


# --- a reschedule that waits for the host ------------------------------------------------


def test_a_reschedule_waiting_for_the_host_keeps_one_visit_and_one_set_of_reminders(
    client, session
) -> None:
    assert post(client, "BOOKING_CREATED", booking("u1", VISIT), T0).json()["status"] == "booked"
    later = VISIT + timedelta(days=2)
    request = booking("u2", later, status="PENDING", requiresConfirmation=True, rescheduleUid="u1")
    asked = post(client, "BOOKING_REQUESTED", request, T0 + timedelta(minutes=10))
    assert asked.status_code == 200, asked.text
    # The host confirms: BOOKING_CREATED for the new uid, without rescheduleUid.
    confirmed = post(client, "BOOKING_CREATED", booking("u2", later), T0 + timedelta(minutes=20))
    assert confirmed.status_code == 200
    [visit] = _live(session)
    assert (visit.external_id, visit.starts_at) == ("calcom:u2", later)
    assert _planned_reminders(session) == [visit.id]
    # A late copy of the old booking's events changes nothing.
    late = post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    assert late.json()["status"] == "ignored"
    assert [v.id for v in _live(session)] == [visit.id]


@pytest.mark.parametrize("trigger", ["BOOKING_REQUESTED", "BOOKING_RESCHEDULED"])
def test_a_reschedule_that_overtakes_the_original_booking_books_no_second_visit(
    client, session, trigger: str
) -> None:
    later = VISIT + timedelta(days=2)
    moved = booking("u2", later, rescheduleUid="u1")
    assert post(client, trigger, moved, T0 + timedelta(minutes=10)).status_code == 200
    post(client, "BOOKING_CREATED", booking("u2", later), T0 + timedelta(minutes=20))
    original = post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    assert original.status_code == 200
    assert original.json()["status"] == "ignored"
    [visit] = visits(session)
    assert (visit.external_id, visit.starts_at, visit.status) == ("calcom:u2", later, "booked")
    assert _planned_reminders(session) == [visit.id]


def test_a_new_booking_waiting_for_the_host_is_not_a_visit_yet(client, session) -> None:
    asked = booking("u5", VISIT, status="PENDING", requiresConfirmation=True)
    response = post(client, "BOOKING_REQUESTED", asked, T0)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert visits(session) == []


# --- seats ---------------------------------------------------------------------------------


def _person(email: str, name: str, zone: str) -> dict[str, Any]:
    first, last = name.split(" ")
    return {
        "email": email,
        "name": name,
        "firstName": first,
        "lastName": last,
        "timeZone": zone,
        "language": {"locale": "en"},
    }


def _seat(
    uid: str, seat: str, booker: dict[str, Any], seated: list[dict[str, Any]]
) -> dict[str, Any]:
    payload = booking(
        uid,
        VISIT,
        attendees=[*seated, booker],
        attendeeSeatId=seat,
        seatsPerTimeSlot=4,
        seatsShowAttendees=False,
    )
    payload["responses"]["email"]["value"] = booker["email"]
    payload["responses"]["name"]["value"] = booker["name"]
    return payload


def test_each_seat_is_its_own_visit_and_its_cancel_touches_no_one_else(client, session) -> None:
    ann = _person("ann@example.com", "Ann Berlin", "Europe/Berlin")
    bob = _person("bob@example.com", "Bob York", "America/New_York")
    first = post(client, "BOOKING_CREATED", _seat("group", "seat-a", ann, []), T0)
    assert first.json()["status"] == "booked"
    second = post(
        client, "BOOKING_CREATED", _seat("group", "seat-b", bob, [ann]), T0 + timedelta(minutes=5)
    )
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "booked"
    by_email = {session.get(Lead, v.lead_id).email: v for v in visits(session)}
    assert set(by_email) == {"ann@example.com", "bob@example.com"}
    a, b = by_email["ann@example.com"], by_email["bob@example.com"]
    # Nobody was told their visit moved because someone else took a seat.
    assert (a.revision, a.timezone) == (0, "Europe/Berlin")
    assert b.timezone == "America/New_York"
    templates = {(m.appointment_id, m.template) for m in session.scalars(select(Message))}
    assert (b.id, "appointment_confirmation") in templates
    assert not any(t == "appointment_update" for _, t in templates)
    # Bob cancels his seat: Cal.com's cancel lists only him.
    cancel = booking("group", VISIT, attendees=[bob], status="CANCELLED", seatsPerTimeSlot=4)
    gone = post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=30))
    assert gone.status_code == 200, gone.text
    by_email = {session.get(Lead, v.lead_id).email: v for v in visits(session)}
    assert by_email["bob@example.com"].status == "cancelled"
    assert by_email["ann@example.com"].status == "booked"
    assert pending(session, by_email["ann@example.com"]) == pending(session, a)
    assert any(
        r.startswith("24h@") or r.startswith("2h@") or "h@r0" in r for r in pending(session, a)
    )


# --- recurring series ------------------------------------------------------------------------

WEEKLY = {"freq": 2, "count": 3, "interval": 1}  # rrule's WEEKLY is 2


def test_cancel_all_remaining_cancels_every_occurrence_and_its_reminders(client, session) -> None:
    for n in range(3):
        start = VISIT + timedelta(weeks=n)
        post(client, "BOOKING_CREATED", booking(f"r{n}", start, recurringEvent=WEEKLY), T0)
    # An unrelated one-off visit of the same patient stays.
    post(client, "BOOKING_CREATED", booking("one-off", VISIT + timedelta(days=1)), T0)
    assert len(_live(session)) == 4
    cancel = booking(
        "r0", VISIT, status="CANCELLED", recurringEvent=WEEKLY, cancelledBy="cal@example.com"
    )
    response = post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(minutes=30))
    assert response.status_code == 200, response.text
    [left] = _live(session)
    assert left.external_id == "calcom:one-off"
    assert _planned_reminders(session) == [left.id]


def test_cancelling_one_occurrence_leaves_the_rest(client, session) -> None:
    for n in range(2):
        post(
            client,
            "BOOKING_CREATED",
            booking(f"r{n}", VISIT + timedelta(weeks=n), recurringEvent=WEEKLY),
            T0,
        )
    # Without "all remaining", Cal.com's cancel carries no recurringEvent.
    post(
        client,
        "BOOKING_CANCELLED",
        booking("r0", VISIT, status="CANCELLED"),
        T0 + timedelta(minutes=9),
    )
    assert [v.external_id for v in _live(session)] == ["calcom:r1"]


# --- no-shows ----------------------------------------------------------------------------------


def _no_show_journey(session) -> None:  # type: ignore[no-untyped-def]
    text = (
        "slug: missed\nname: missed\naudience: patients\ntrigger: no_show\ngoal: []\n"
        "window: {start_hour: 0, end_hour: 24}\nsteps:\n"
        "  - key: sorry\n    subject: We missed you\n    html: '<p>Hi</p>'\n"
    )
    sequences.publish_spec(session, spec=parse_sequence(text))
    make_lead(session, email_address="cal@example.com")
    session.commit()


def test_a_no_show_marks_the_visit_missed_and_starts_the_no_show_journey(client, session) -> None:
    _no_show_journey(session)
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    # The host marks the attendee absent after the visit.
    marked = {
        "bookingUid": "u1",
        "bookingId": 1002,
        "attendees": [{"email": "cal@example.com", "noShow": True}],
        "message": "cal@example.com x_marked_as_no_show",
    }
    after = VISIT + timedelta(hours=1)
    response = post(client, "BOOKING_NO_SHOW_UPDATED", marked, after, at=after)
    assert response.status_code == 200, response.text
    [visit] = visits(session)
    assert visit.status == "no_show"
    assert pending(session, visit) == []
    [enrollment] = session.scalars(select(Enrollment))
    assert enrollment.status == "active"


def guests_missing(uid: str, booking_id: int) -> dict[str, Any]:
    """AFTER_GUESTS_CAL_VIDEO_NO_SHOW's payload for the VISIT (triggerNoShow/common.ts)."""
    return {
        "title": "Assessment between Dr Example and Cal Doe",
        "bookingId": booking_id,
        "bookingUid": uid,
        "startTime": VISIT.astimezone(UTC).isoformat(),
        "endTime": (VISIT + timedelta(minutes=45)).astimezone(UTC).isoformat(),
        "attendees": [{"name": "Cal Doe", "email": "cal@example.com", "timeZone": "Europe/Berlin"}],
        "participants": [],
        "eventType": {"id": 42, "teamId": None, "parentId": None, "calVideoSettings": None},
        "webhook": {"id": "w1", "subscriberUrl": "https://clinic.example/webhooks/calcom"},
        "message": "Guest didn't join the call or didn't join before 2026-03-27 10:10:00 +01:00",
    }


def test_cal_video_reports_a_guest_who_never_joined(client, session) -> None:
    _no_show_journey(session)
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    after = VISIT + timedelta(minutes=15)
    guest = guests_missing("u1", 1002)
    response = post(client, "AFTER_GUESTS_CAL_VIDEO_NO_SHOW", guest, after, at=after)
    assert response.status_code == 200, response.text
    [visit] = visits(session)
    assert visit.status == "no_show"
    assert len(list(session.scalars(select(Enrollment)))) == 1


# --- phone-only bookers ---------------------------------------------------------------------------


def test_a_phone_only_booker_is_never_emailed_and_keeps_the_phone(client, session) -> None:
    person = _person("4915112345678@sms.cal.com", "Pat Phone", "Europe/Berlin")
    person["phoneNumber"] = "+4915112345678"
    payload = booking("p1", VISIT, attendees=[person], smsReminderNumber="+4915112345678")
    payload["responses"]["email"]["value"] = person["email"]
    payload["responses"]["attendeePhoneNumber"] = {
        "label": "phone_number",
        "value": "+4915112345678",
    }
    assert post(client, "BOOKING_CREATED", payload, T0).json()["status"] == "booked"
    [visit] = visits(session)
    assert visit.phone == "+4915112345678"
    with clock.frozen_at(T0 + timedelta(hours=1)):
        delivery.tick(dispatch=lambda ids: delivery.deliver_batch(ids, backend=get_backend()))
    session.expire_all()
    rows = list(session.scalars(select(Message).where(Message.appointment_id == visit.id)))
    assert rows
    assert not [m for m in rows if m.status == MessageStatus.SENT]
    [confirmation] = [m for m in rows if m.template == "appointment_confirmation"]
    assert confirmation.status == MessageStatus.SUPPRESSED
    assert "phone" in (confirmation.last_error or "")


# --- every trigger gets a 2xx ---------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["MEETING_STARTED", "MEETING_ENDED"])
def test_meeting_triggers_without_a_payload_envelope_get_a_2xx(client, session, trigger) -> None:
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    # scheduleTrigger stores `{triggerEvent, ...booking}`: the booking row, flat.
    row = {
        "triggerEvent": trigger,
        "id": 1002,
        "uid": "u1",
        "title": "Assessment between Dr Example and Cal Doe",
        "startTime": VISIT.astimezone(UTC).isoformat(),
        "endTime": (VISIT + timedelta(minutes=45)).astimezone(UTC).isoformat(),
        "status": "ACCEPTED",
        "location": "integrations:daily",
        "metadata": {"videoCallUrl": "https://app.cal.com/video/u1"},
        "attendees": [{"name": "Cal Doe", "email": "cal@example.com"}],
        "eventType": {"bookingFields": None},
        "responses": {"email": "cal@example.com", "name": "Cal Doe"},
    }
    response = send(client, row)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    [visit] = visits(session)
    assert (visit.status, visit.revision) == ("booked", 0)


@pytest.mark.parametrize(
    "body",
    [
        {"triggerEvent": "SOMETHING_CAL_COM_ADDS_LATER", "createdAt": "2026-03-23T09:00:00Z"},
        {
            "triggerEvent": "RECORDING_READY",
            "createdAt": "2026-03-23T09:00:00Z",
            "payload": {"downloadLink": "https://x"},
        },
        {"triggerEvent": "OOO_CREATED", "payload": {"oooEntry": {"id": 1}}},
    ],
)
def test_unknown_triggers_get_a_2xx_and_are_ignored(client, session, body) -> None:
    response = send(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"


def test_a_wrong_signature_is_still_refused(client, session) -> None:
    raw = json.dumps({"triggerEvent": "MEETING_STARTED", "uid": "u1"}).encode()
    response = client.post(
        "/webhooks/calcom",
        content=raw,
        headers={"Content-Type": "application/json", "X-Cal-Signature-256": "0" * 64},
    )
    assert response.status_code == 401


def test_cal_video_links_to_cal_coms_page_rather_than_the_raw_room(client, session) -> None:
    payload = booking(
        "u1",
        VISIT,
        location="integrations:daily",
        videoCallData={
            "type": "daily_video",
            "id": "r",
            "password": "",
            "url": "https://clinic.daily.co/r",
        },
        metadata={"videoCallUrl": "https://app.cal.com/video/u1"},
    )
    post(client, "BOOKING_CREATED", payload, T0)
    [visit] = visits(session)
    assert visit.location == "https://app.cal.com/video/u1"
