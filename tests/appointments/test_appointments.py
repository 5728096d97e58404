"""Appointments: API and Cal.com in, reminders out (at the local SendGrid server), .ics checked
by a second parser, privacy kept, and every change re-planned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import ics
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import Message, MessageStatus
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from tests.factories import make_lead

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # a Monday
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday 10:00


@pytest.fixture
def token(session) -> str:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


@pytest.fixture
def api(client, token):  # type: ignore[no-untyped-def]
    def call(method: str, path: str, at: datetime = NOW, **kwargs):  # type: ignore[no-untyped-def]
        with clock.frozen_at(at):
            return client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )

    return call


def _booking(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "Pat@Example.com",
        "first_name": "Pat",
        "starts_at": VISIT.isoformat(),
        "timezone": "Europe/Berlin",
        "duration_minutes": 45,
        "location": "Room 2, 123 Example Street",
        "external_id": "ext-1",
    }
    body.update(overrides)
    return body


def _tick(at: datetime) -> list[str]:
    sent: list[str] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.subject or ""
                for o in service.deliver_batch(ids, backend=get_backend())
                if o.status == "sent"
            )
        )
    return sent


class Parsed:
    """The attached calendar as read by `ics`, a parser independent of the one that wrote it."""

    def __init__(self, payload: dict) -> None:  # type: ignore[type-arg]
        [attachment] = payload["attachments"]
        assert attachment["filename"] == "appointment.ics"
        assert attachment["type"].startswith("text/calendar; method=")
        self.calendar = ics.Calendar(base64.b64decode(attachment["content"]).decode())
        [self.event] = list(self.calendar.events)
        self.method = self.calendar.method
        self.uid = self.event.uid
        self.start = self.event.begin.datetime
        self.sequence = int(next(x.value for x in self.event.extra if x.name == "SEQUENCE"))


def _ics(payload: dict) -> Parsed:  # type: ignore[type-arg]
    return Parsed(payload)


def test_api_needs_a_live_token(client, session, token) -> None:
    assert client.post("/api/appointments", json=_booking()).status_code == 401
    bad = client.post(
        "/api/appointments", json=_booking(), headers={"Authorization": "Bearer nrt_forged"}
    )
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    CliRunner().invoke(main, ["tokens", "revoke", "booking-system"])
    revoked = client.post(
        "/api/appointments", json=_booking(), headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 401
    assert session.scalars(select(Lead)).all() == []


def test_booking_ends_the_drip_and_plans_reminders_idempotently(
    api, session, sequences_loaded
) -> None:
    lead = make_lead(session, email_address="pat@example.com")
    enrollments.enroll(session, lead=lead, now=NOW - timedelta(days=1))
    session.commit()
    created = api("POST", "/api/appointments", json=_booking())
    assert created.status_code == 201, created.text
    names = [(r["name"], r["status"]) for r in created.json()["reminders"]]
    assert names == [
        ("confirmation@r0", "pending"),
        ("48h@r0", "pending"),
        ("nudge@r0", "pending"),
        ("2h@r0", "pending"),
    ]
    session.expire_all()
    assert session.scalars(select(Enrollment)).one().exit_reason == "booked"
    again = api("POST", "/api/appointments", json=_booking())
    assert again.status_code == 200
    assert again.json()["revision"] == 0
    assert (
        len(session.scalars(select(Message).where(Message.appointment_id.is_not(None))).all()) == 4
    )


def test_new_patient_gets_no_marketing_consent(api, session) -> None:
    api("POST", "/api/appointments", json=_booking(email="new@example.com"))
    lead = session.scalars(select(Lead)).one()
    assert lead.status == "no_consent"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": "2026-03-20T10:00:00+01:00"}, "starts_at"),  # in the past
        ({"starts_at": "2026-03-27T10:00:00"}, "starts_at"),  # no offset
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"email": "nope"}, "email"),
        ({"duration_minutes": 0}, "duration_minutes"),
    ],
)
def test_bad_bookings_get_422_and_change_nothing(api, session, change, field) -> None:
    response = api("POST", "/api/appointments", json=_booking(**change))
    assert response.status_code == 422
    assert field in response.json()["fields"]
    assert session.scalars(select(Lead)).all() == []


def test_book_reschedule_twice_cancel_through_sendgrid(api, session, sendgrid) -> None:
    booked = api("POST", "/api/appointments", json=_booking()).json()
    appointment_id = booked["id"]
    assert _tick(NOW) == ["Booked: your visit on Fri, Mar 27 at 10:00 AM GMT+1"]
    first = _ics(sendgrid.state.accepted[-1])
    assert first.method == "PUBLISH"
    uid = first.uid
    assert first.sequence == 0
    assert first.start == VISIT
    assert first.start.utcoffset() == timedelta(hours=1)
    # Move it twice: each move sends an update with the same UID and a higher SEQUENCE.
    new_time = datetime(2026, 3, 31, 16, 30, tzinfo=BERLIN)
    moved = api(
        "PATCH",
        f"/api/appointments/{appointment_id}",
        NOW + timedelta(hours=1),
        json={"starts_at": new_time.isoformat()},
    )
    assert moved.status_code == 200
    assert moved.json()["revision"] == 1
    later = datetime(2026, 4, 2, 9, 15, tzinfo=BERLIN)
    api(
        "PATCH",
        f"/api/appointments/{appointment_id}",
        NOW + timedelta(hours=2),
        json={"starts_at": later.isoformat()},
    )
    assert _tick(NOW + timedelta(hours=2)) == [
        "Your visit has moved to Thu, Apr 2 at 9:15 AM GMT+2"
    ]  # the first update was superseded before it went out
    update = _ics(sendgrid.state.accepted[-1])
    assert update.uid == uid
    assert update.sequence == 2
    assert update.start == later
    assert update.start.utcoffset() == timedelta(hours=2)  # after the spring change
    # The old visit's 48 h reminder (25 March 10:00) never goes.
    assert _tick(datetime(2026, 3, 25, 12, 0, tzinfo=UTC)) == []
    assert _tick(later - timedelta(hours=47)) == [
        "Reminder: your visit on Thu, Apr 2 at 9:15 AM GMT+2"
    ]
    cancelled = api("DELETE", f"/api/appointments/{appointment_id}", later - timedelta(hours=20))
    assert cancelled.json()["status"] == "cancelled"
    assert _tick(later - timedelta(hours=20)) == [
        "Your visit on Thu, Apr 2 at 9:15 AM GMT+2 is cancelled"
    ]
    cancel_ics = _ics(sendgrid.state.accepted[-1])
    assert cancel_ics.method == "CANCEL"
    assert cancel_ics.uid == uid
    assert cancel_ics.sequence == 3
    assert cancel_ics.event.status == "CANCELLED"
    assert _tick(later) == []  # the 2 h reminder was cancelled
    subjects = [m["subject"] for m in sendgrid.state.accepted]
    assert len(subjects) == 4


def test_reminder_already_past_is_skipped_not_sent_late(api, session) -> None:
    soon = NOW + timedelta(hours=10)
    body = api("POST", "/api/appointments", json=_booking(starts_at=soon.isoformat())).json()
    states = {r["name"]: r["status"] for r in body["reminders"]}
    assert states == {
        "confirmation@r0": "pending",
        "48h@r0": "skipped",
        "nudge@r0": "skipped",
        "2h@r0": "pending",
    }


def test_quiet_hours_move_day_ahead_reminders_but_not_short_ones(api, session) -> None:
    early = datetime(2026, 3, 27, 7, 0, tzinfo=BERLIN)  # 48 h before is 07:00: quiet
    body = api("POST", "/api/appointments", json=_booking(starts_at=early.isoformat())).json()
    due = {
        r["name"]: datetime.fromisoformat(r["due_at"]).astimezone(BERLIN) for r in body["reminders"]
    }
    assert due["48h@r0"] == datetime(2026, 3, 24, 20, 0, tzinfo=BERLIN)  # the evening before
    assert due["2h@r0"] == datetime(2026, 3, 27, 5, 0, tzinfo=BERLIN)  # still goes


def test_daylight_saving_between_booking_and_visit(api, session, sendgrid) -> None:
    # Booked in winter time for a visit after Berlin springs forward (29 March 2026).
    visit = datetime(2026, 3, 31, 10, 0, tzinfo=BERLIN)
    api("POST", "/api/appointments", json=_booking(starts_at=visit.isoformat()))
    _tick(NOW)
    event = _ics(sendgrid.state.accepted[-1])
    assert event.start.astimezone(BERLIN).hour == 10
    assert event.start == datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
    text = sendgrid.state.accepted[-1]["content"][0]["value"]
    assert "When: Tuesday, March 31, 2026 at 10:00 AM GMT+2\n" in text
    reminder = session.scalars(select(Message).where(Message.reminder == "2h@r0")).one()
    assert reminder.due_at == datetime(2026, 3, 31, 6, 0, tzinfo=UTC)


def test_reschedule_racing_a_claimed_reminder_stops_it(api, session, sendgrid) -> None:
    soon = NOW + timedelta(hours=3)
    appointment_id = api(
        "POST", "/api/appointments", json=_booking(starts_at=soon.isoformat())
    ).json()["id"]
    _tick(NOW)  # the confirmation
    with clock.frozen_at(NOW + timedelta(hours=1, minutes=1)):
        claimed = service.tick(dispatch=lambda ids: None).claimed  # the 2 h reminder, claimed
    assert len(claimed) == 1
    api(
        "PATCH",
        f"/api/appointments/{appointment_id}",
        NOW + timedelta(hours=1, minutes=2),
        json={"starts_at": (NOW + timedelta(days=2)).isoformat()},
    )
    with clock.frozen_at(NOW + timedelta(hours=1, minutes=2)):
        [outcome] = service.deliver_batch(claimed, backend=get_backend())
    assert outcome.status == MessageStatus.CANCELLED
    assert "changed" in (outcome.detail or "")
    assert [m["subject"] for m in sendgrid.state.accepted] == [
        "Booked: your visit on Mon, Mar 23 at 1:00 PM GMT+1"
    ]


def test_reminders_carry_no_health_detail(api, session, sendgrid) -> None:
    make_lead(session, email_address="pat@example.com", numbness_type="chronic")
    session.commit()
    api("POST", "/api/appointments", json=_booking())
    _tick(NOW)
    _tick(VISIT - timedelta(hours=47))
    _tick(VISIT - timedelta(hours=1, minutes=59))
    assert len(sendgrid.state.accepted) == 3
    blob = json.dumps(sendgrid.state.accepted).lower()
    ics_text = " ".join(
        base64.b64decode(p["attachments"][0]["content"]).decode().lower()
        for p in sendgrid.state.accepted
    )
    for word in ("chronic", "numb", "sciatic", "neuropathy", "diabetes", "acute"):
        assert word not in blob
        assert word not in ics_text
    assert all(
        p["tracking_settings"]["open_tracking"]["enable"] is False for p in sendgrid.state.accepted
    )


def test_no_show_starts_the_follow_up_for_consented_leads(api, session, sequences_loaded) -> None:
    make_lead(session, email_address="pat@example.com")
    session.commit()
    appointment_id = api("POST", "/api/appointments", json=_booking()).json()["id"]
    marked = api(
        "PATCH",
        f"/api/appointments/{appointment_id}",
        VISIT + timedelta(hours=1),
        json={"status": "no_show"},
    )
    assert marked.json()["status"] == "no_show"
    session.expire_all()
    active = session.scalars(select(Enrollment).where(Enrollment.status == "active")).one()
    assert active.sequence_id is not None


def test_visit_page_shows_the_time_without_details(api, client, session) -> None:
    from nurture.messages.links import visit_url

    appointment_id = api("POST", "/api/appointments", json=_booking()).json()["id"]
    page = client.get(visit_url(appointment_id).removeprefix("https://nurture.test"))
    assert page.status_code == 200
    assert "Friday, March 27, 2026 at 10:00 AM GMT+1" in page.text
    assert "Europe/Berlin" not in page.text
    assert client.get("/visit/forged").status_code == 400


# --- Cal.com -------------------------------------------------------------------------------

SECRET = "calcom-test-secret"


def _cal(client, trigger: str, at: datetime = NOW, sign: str | None = "good", **payload):  # type: ignore[no-untyped-def]
    body = json.dumps(
        {"triggerEvent": trigger, "createdAt": at.isoformat(), "payload": payload}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if sign == "good":
        headers["X-Cal-Signature-256"] = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    elif sign == "bad":
        headers["X-Cal-Signature-256"] = "0" * 64
    with clock.frozen_at(at):
        return client.post("/webhooks/calcom", content=body, headers=headers)


def _cal_booking(uid: str, start: datetime, **extra: object) -> dict[str, object]:
    return {
        "uid": uid,
        "startTime": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "endTime": (start + timedelta(minutes=30)).astimezone(UTC).isoformat(),
        "attendees": [{"email": "cal@example.com", "name": "Cal Doe", "timeZone": "Europe/Berlin"}],
        "location": "Clinic, Room 1",
        "organizer": {"name": "Dr Example", "email": "dr@clinic.example"},
        **extra,
    }


@pytest.fixture
def calcom(settings):  # type: ignore[no-untyped-def]
    settings(calcom_webhook_secret=SECRET)


def test_calcom_signatures(client, session, calcom) -> None:
    for sign in ("bad", None):
        response = _cal(client, "BOOKING_CREATED", sign=sign, **_cal_booking("u1", VISIT))
        assert response.status_code == 401
    assert session.scalars(select(Lead)).all() == []
    ok = _cal(client, "BOOKING_CREATED", **_cal_booking("u1", VISIT))
    assert ok.status_code == 200
    assert ok.json()["status"] == "booked"
    replay = _cal(client, "BOOKING_CREATED", **_cal_booking("u1", VISIT))
    assert replay.json()["status"] == "unchanged"


def test_calcom_reschedule_cancel_and_unknown_events(client, session, calcom) -> None:
    _cal(client, "BOOKING_CREATED", **_cal_booking("u1", VISIT))
    # Each later change carries a later createdAt, as Cal.com stamps them.
    later = NOW + timedelta(minutes=5)
    moved = _cal(
        client,
        "BOOKING_RESCHEDULED",
        at=later,
        **_cal_booking("u2", VISIT + timedelta(days=1), rescheduleUid="u1"),
    )
    assert moved.json()["status"] == "rescheduled"
    replay = _cal(
        client,
        "BOOKING_RESCHEDULED",
        at=later,
        **_cal_booking("u2", VISIT + timedelta(days=1), rescheduleUid="u1"),
    )
    assert replay.json()["status"] == "unchanged"
    ignored = _cal(client, "MEETING_ENDED", uid="u2")
    assert ignored.status_code == 200
    assert ignored.json()["status"] == "ignored"
    cancelled = _cal(
        client, "BOOKING_CANCELLED", at=later + timedelta(minutes=5), **_cal_booking("u2", VISIT)
    )
    assert cancelled.json()["status"] == "cancelled"
    session.expire_all()
    reasons = {m.reminder: m.status for m in session.scalars(select(Message))}
    assert reasons["notice@r2"] == MessageStatus.PENDING  # the cancellation notice
    assert reasons["48h@r1"] == MessageStatus.CANCELLED


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (_cal_booking("u9", datetime(2020, 1, 1, tzinfo=UTC)), 422),  # a visit in the past
        ({**_cal_booking("u9", VISIT), "startTime": "tomorrow"}, 422),
        (
            {
                **_cal_booking("u9", VISIT),
                "attendees": [{"email": "x@example.com", "timeZone": "Nowhere/City"}],
            },
            422,
        ),
    ],
)
def test_calcom_malformed_bookings(client, session, calcom, payload, status) -> None:
    response = _cal(client, "BOOKING_CREATED", **payload)
    assert response.status_code == status
    assert response.json()["message"]
    assert session.scalars(select(Lead)).all() == []


def test_calcom_not_json_is_400(client, calcom) -> None:
    body = b"{not json"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/webhooks/calcom", content=body, headers={"X-Cal-Signature-256": signature}
    )
    assert response.status_code == 400


def test_a_booking_racing_a_signup_for_a_new_address_ends_with_one_lead(session) -> None:
    """The booking's insert waits on the signup's uncommitted row, fails, and reads it."""
    import threading

    from nurture.appointments import service as appointments
    from nurture.appointments.schemas import AppointmentIn
    from nurture.core.config import get_settings
    from nurture.core.db import session_factory

    if get_settings().is_sqlite:
        pytest.skip("SQLite has one writer: the second transaction waits, it cannot race")
    now = clock.now()
    signup = session_factory()()
    signup.add(
        Lead(email="race@example.com", first_name="Sam", numbness_type="acute", status="pending")
    )
    signup.flush()  # row written, not committed: the booking cannot see it yet
    threading.Timer(0.5, signup.commit).start()
    booking = session_factory()()
    data = AppointmentIn(
        email="race@example.com",
        starts_at=now + timedelta(days=3),
        timezone="Europe/Berlin",
    )
    result = appointments.book(booking, data=data, now=now)
    booking.commit()
    signup.close()
    booking.close()
    leads = session.scalars(select(Lead).where(Lead.email == "race@example.com")).all()
    assert len(leads) == 1
    assert leads[0].status == "pending"  # the signup's row, not a second one
    assert result.appointment.lead_id == leads[0].id


def test_a_booking_just_over_a_day_ahead_at_night_gets_no_nudge(api, session) -> None:
    # Booked at 23:00 for 23:30 the next evening: 24 h before is now, in quiet hours, and the
    # booking email (sent now) asks "will you be there?" already.
    night = datetime(2026, 3, 24, 23, 0, tzinfo=BERLIN)
    visit = night + timedelta(hours=24, minutes=30)
    body = api(
        "POST", "/api/appointments", at=night, json=_booking(starts_at=visit.isoformat())
    ).json()
    states = {r["name"]: r["status"] for r in body["reminders"]}
    assert states["confirmation@r0"] == "pending"
    assert states["nudge@r0"] == "skipped"
    nudge = session.scalars(select(Message).where(Message.reminder == "nudge@r0")).one()
    assert "asks already" in (nudge.last_error or "")
    sent = _tick(night)
    assert len(sent) == 1  # the booking email alone


def test_a_nudge_a_few_hours_after_the_booking_email_is_skipped(api, session) -> None:
    # Booked at 10:00 for 12:00 the next day: the nudge would follow the booking email by 2 h.
    morning = datetime(2026, 3, 24, 10, 0, tzinfo=BERLIN)
    visit = morning + timedelta(hours=26)
    body = api(
        "POST", "/api/appointments", at=morning, json=_booking(starts_at=visit.isoformat())
    ).json()
    assert {r["name"]: r["status"] for r in body["reminders"]}["nudge@r0"] == "skipped"


def test_a_nudge_well_after_the_booking_still_goes(api, session) -> None:
    body = api("POST", "/api/appointments", json=_booking()).json()  # Monday for Friday 10:00
    nudge = {r["name"]: r for r in body["reminders"]}["nudge@r0"]
    assert nudge["status"] == "pending"
    assert datetime.fromisoformat(nudge["due_at"]) == VISIT - timedelta(hours=24)


def test_a_late_nudge_is_never_sent_in_quiet_hours(api, session) -> None:
    api("POST", "/api/appointments", json=_booking())  # nudge due Thursday 10:00
    thursday_night = datetime(2026, 3, 26, 22, 30, tzinfo=BERLIN)  # a backlog reaches it late
    sent = _tick(thursday_night)
    nudge = session.scalars(select(Message).where(Message.reminder == "nudge@r0")).one()
    session.refresh(nudge)
    assert nudge.status == MessageStatus.SKIPPED
    assert "quiet hours" in (nudge.last_error or "")
    assert all("confirm" not in s.lower() for s in sent)
