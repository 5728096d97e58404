"""Attendance: one-click "I'll be there" / "I need to change it" links, the nudge to patients
who have not answered, and how a move or a cancel resets both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.outbox.models import Message, MessageStatus
from tests.factories import link_in, outbox_messages, text_part

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # a Monday
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday 10:00
REMINDED = VISIT - timedelta(hours=47)  # after the 48 h reminder is due
NUDGE_DUE = VISIT - timedelta(hours=24)


@pytest.fixture
def api(client, session):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]

    def call(method: str, path: str, at: datetime = NOW, **kwargs):  # type: ignore[no-untyped-def]
        with clock.frozen_at(at):
            return client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )

    return call


def _book(api, email: str = "pat@example.com", external_id: str = "ext-1") -> int:  # type: ignore[no-untyped-def]
    response = api(
        "POST",
        "/api/appointments",
        json={
            "email": email,
            "first_name": "Pat",
            "starts_at": VISIT.isoformat(),
            "timezone": "Europe/Berlin",
            "location": "Room 2, 123 Example Street",
            "external_id": external_id,
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _tick(at: datetime) -> list[str]:
    """Run the tick at `at`, delivering to the outbox folder; return the sent subjects."""
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


def _last_text(to: str) -> str:
    mails = [m for m in outbox_messages(get_settings().resolved_outbox_dir) if to in str(m["To"])]
    assert mails, f"nothing was sent to {to}"
    return text_part(mails[-1])


def _links(to: str = "pat@example.com") -> tuple[str, str]:
    """Send the 48 h reminder and return its "I'll be there" and "I need to change it" links."""
    _tick(NOW)
    assert any(s.startswith("Reminder:") for s in _tick(REMINDED))
    text = _last_text(to)
    confirm = link_in(text.split("I'll be there:", 1)[1], "/attend/")
    change = link_in(text.split("I need to change it:", 1)[1], "/attend/")
    return confirm, change


def _path(url: str) -> str:
    return url.removeprefix(get_settings().base_url)


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _post(client, url: str, at: datetime = REMINDED):  # type: ignore[no-untyped-def]
    with clock.frozen_at(at):
        return client.post("/attend", data={"token": _token(url)})


def _appointment(session, appointment_id: int) -> Appointment:  # type: ignore[no-untyped-def]
    session.expire_all()
    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None
    return appointment


def test_a_get_changes_nothing_and_the_post_records_the_answer(api, client, session) -> None:
    appointment_id = _book(api)
    confirm, change = _links()
    with clock.frozen_at(REMINDED):
        page = client.get(_path(confirm))
    assert page.status_code == 200
    assert "Yes, I'll be there" in page.text
    assert f'value="{_token(confirm)}"' in page.text  # the form carries the signed token
    assert "Friday" in page.text
    # A link scanner that follows every link in the email answers nothing.
    assert _appointment(session, appointment_id).confirmed_at is None
    assert api("GET", f"/api/appointments/{appointment_id}").json()["confirmed_at"] is None

    done = _post(client, confirm)
    assert done.status_code == 200, done.text
    assert "you'll be there" in done.text
    assert _appointment(session, appointment_id).confirmed_at == REMINDED
    shown = api("GET", f"/api/appointments/{appointment_id}").json()
    assert shown["attendance"] == "confirmed"
    assert datetime.fromisoformat(shown["confirmed_at"]) == REMINDED
    assert shown["change_requested_at"] is None

    # Changing one's mind: "I need to change it" replaces the confirmation and offers a way.
    asked = _post(client, change, REMINDED + timedelta(hours=1))
    assert asked.status_code == 200
    assert get_settings().booking_url in asked.text
    assert 'href="tel:+15550100000"' in asked.text
    appointment = _appointment(session, appointment_id)
    assert appointment.confirmed_at is None
    assert appointment.change_requested_at == REMINDED + timedelta(hours=1)
    assert api("GET", f"/api/appointments/{appointment_id}").json()["attendance"] == (
        "asked to change"
    )


def test_bad_links_get_a_clear_400_and_change_nothing(api, client, session) -> None:
    appointment_id = _book(api)
    confirm, _ = _links()
    token = _token(confirm)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    visit_link = link_in(_last_text("pat@example.com"), "/visit/")  # signed for another purpose
    cases = {
        "tampered": (tampered, REMINDED),
        "wrong purpose": (_token(visit_link), REMINDED),
        "expired": (token, REMINDED + timedelta(days=31)),
        "empty": ("", REMINDED),
    }
    for name, (bad, at) in cases.items():
        with clock.frozen_at(at):
            posted = client.post("/attend", data={"token": bad})
            shown = client.get(f"/attend/{bad or 'x'}")
        for response in (posted, shown):
            assert response.status_code == 400, name
            assert "This link does not work" in response.text, name
            assert "Nothing was changed" in response.text, name
    with clock.frozen_at(REMINDED + timedelta(days=31)):
        assert "expired" in client.get(f"/attend/{token}").text
    assert _appointment(session, appointment_id).confirmed_at is None


def test_the_nudge_goes_only_to_the_patient_who_has_not_confirmed(api, client, session) -> None:
    first = _book(api, "pat@example.com", "ext-1")
    second = _book(api, "sam@example.com", "ext-2")
    confirm, _ = _links("pat@example.com")
    assert _post(client, confirm).status_code == 200

    sent = _tick(NUDGE_DUE)
    assert sent == ["Can you still make your visit?"]
    nudge = _last_text("sam@example.com")
    assert "Friday, March 27, 2026 at 10:00 AM" in nudge
    assert "Room 2, 123 Example Street" in nudge
    assert get_settings().clinic_name in nudge
    assert "/attend/" in nudge.split("I'll be there:", 1)[1]
    assert "/attend/" in nudge.split("I need to change it:", 1)[1]
    rows = {
        m.appointment_id: m
        for m in session.scalars(select(Message).where(Message.reminder == "nudge@r0"))
    }
    assert rows[second].status == MessageStatus.SENT
    assert rows[first].status == MessageStatus.SKIPPED
    assert rows[first].last_error == "already confirmed"


def test_a_reschedule_clears_the_answer_and_replans_the_nudge(api, client, session) -> None:
    appointment_id = _book(api)
    confirm, _ = _links()
    assert _post(client, confirm).status_code == 200
    later = datetime(2026, 3, 31, 16, 30, tzinfo=BERLIN)
    moved = api(
        "PATCH",
        f"/api/appointments/{appointment_id}",
        REMINDED,
        json={"starts_at": later.isoformat()},
    )
    assert moved.status_code == 200
    assert moved.json()["confirmed_at"] is None
    assert moved.json()["attendance"] == "not confirmed"
    nudges = {r["name"]: r for r in moved.json()["reminders"] if r["name"].startswith("nudge")}
    assert nudges["nudge@r0"]["status"] == "cancelled"
    assert nudges["nudge@r1"]["status"] == "pending"
    assert datetime.fromisoformat(nudges["nudge@r1"]["due_at"]) == later - timedelta(hours=24)
    # The old email's link answered for the old time; it cannot confirm the new one.
    stale = _post(client, confirm)
    assert stale.status_code == 409
    assert "changed since that email" in stale.text
    assert _appointment(session, appointment_id).confirmed_at is None
    # The old nudge moment passes quietly; the new one goes to the patient who has not answered.
    assert "Can you still make your visit?" not in _tick(NUDGE_DUE)
    assert _tick(later - timedelta(hours=24)) == ["Can you still make your visit?"]


def test_a_cancel_cancels_the_nudge_and_closes_the_links(api, client, session) -> None:
    appointment_id = _book(api)
    confirm, change = _links()
    cancelled = api("DELETE", f"/api/appointments/{appointment_id}", REMINDED)
    nudge = next(r for r in cancelled.json()["reminders"] if r["name"] == "nudge@r0")
    assert nudge["status"] == "cancelled"
    for link in (confirm, change):
        with clock.frozen_at(REMINDED):
            assert "cancelled" in client.get(_path(link)).text
        answered = _post(client, link)
        assert answered.status_code == 409
        assert "cancelled" in answered.text
    assert "Can you still make your visit?" not in _tick(NUDGE_DUE)
    appointment = _appointment(session, appointment_id)
    assert appointment.confirmed_at is None
    assert appointment.change_requested_at is None


def test_a_nudge_reached_after_the_visit_started_is_skipped(api, session) -> None:
    _book(api)
    _tick(NOW)
    assert _tick(VISIT + timedelta(minutes=5)) == []  # a backlog after an outage
    nudge = session.scalars(select(Message).where(Message.reminder == "nudge@r0")).one()
    assert nudge.status == MessageStatus.SKIPPED
    assert nudge.last_error == "the visit has already started"


def test_the_nudge_can_be_turned_off(api, session, settings) -> None:
    settings(confirm_nudge_hours="0")
    _book(api)
    assert session.scalars(select(Message).where(Message.reminder.like("nudge%"))).all() == []
