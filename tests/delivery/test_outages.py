"""An email service that is down for hours or days loses nothing and sends nothing twice.

The relay is a real SMTP server (tests/smtp_server.py) that refuses connections while it is
down; the clock moves from tick to tick as beat would, far past the five attempts (about seven
minutes) after which emails used to be given up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from nurture.cli import main
from nurture.core import clock
from nurture.delivery import outbox
from nurture.enrollments import service as enrollments
from nurture.leads.models import LeadStatus
from nurture.outbox import plan as planning
from nurture.outbox.models import Message, MessageStatus, Stream
from nurture.studio.auth import create_staff
from tests.factories import make_lead
from tests.sendgrid_server import Scripted
from tests.smtp_server import SMTPServer
from tests.studio.conftest import PASSWORD, Studio
from tests.ticking import tick_here as _tick

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin (send window 9-19)
OLD_GIVE_UP = 5  # attempts after which an email used to fail for good
METRICS_TOKEN = "scrape-token-for-outage-tests"


@pytest.fixture
def relay(settings) -> Iterator[SMTPServer]:  # type: ignore[no-untyped-def]
    """An SMTP relay that is down until the test starts it."""
    server = SMTPServer()
    settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(server.port),
        smtp_timeout_seconds="5",
    )
    yield server
    server.stop()


def _start(session: Session) -> tuple[int, int]:
    """Enroll an active lead (its welcome is due now) and plan a confirmation for another."""
    lead = make_lead(session)  # chronic, Europe/Berlin: welcome, then +3, +4, +4 days
    with clock.frozen_at(START):
        enrollments.enroll(session, lead=lead, now=START)
    newcomer = make_lead(session, email_address="new@example.com", status=LeadStatus.PENDING)
    confirm = planning.plan(
        session,
        key=f"confirm:{newcomer.id}",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=START,
        lead_id=newcomer.id,
    )
    session.commit()
    [welcome] = _drip(session)
    return welcome.id, confirm.id


def _drip(session: Session) -> list[Message]:
    session.expire_all()
    query = select(Message).where(Message.enrollment_id.is_not(None)).order_by(Message.id)
    return list(session.scalars(query))


def _row(session: Session, message_id: int) -> Message:
    session.expire_all()
    row = session.get(Message, message_id)
    assert row is not None
    return row


def _status(at: datetime) -> str:
    with clock.frozen_at(at):
        result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    return result.output


def _gauge(client: TestClient, name: str) -> float:
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    families = text_string_to_metric_families(scraped.text)
    [value] = [s.value for f in families for s in f.samples if s.name == name]
    return float(value)


def test_a_twelve_hour_outage_loses_nothing_and_the_drip_goes_on(
    session, sequences_loaded, relay, client, settings
) -> None:
    settings(metrics_token=METRICS_TOKEN)
    welcome, confirm = _start(session)
    at = START
    while at <= START + timedelta(hours=12):
        outcomes = _tick(at)
        assert {o.status for o in outcomes} <= {"pending"}, outcomes
        last_tick, at = at, at + timedelta(minutes=10)
    for message_id in (welcome, confirm):
        row = _row(session, message_id)
        assert row.status == MessageStatus.PENDING
        assert row.attempts > OLD_GIVE_UP
        assert row.retrying_since == START
        assert "SMTP connection failed" in (row.last_error or "")
    # The drip email waits for its send window (9-19 in Berlin) rather than retry at night.
    assert _row(session, welcome).due_at >= datetime(2026, 3, 3, 8, 0, tzinfo=UTC)

    # The backlog shows: `nurture status`, /readyz (beat is on time, the broker answers: the
    # service is ready, its mail degraded) and the metrics.
    out = _status(last_tick)
    assert "retrying       2" in out
    assert "backlog        degraded" in out
    with clock.frozen_at(last_tick):
        ready = client.get("/readyz")
        assert _gauge(client, "nurture_retrying_emails") == 2
        assert _gauge(client, "nurture_backlog_degraded") == 1
        assert _gauge(client, "nurture_oldest_due_age_seconds") >= 12 * 3600
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["backlog"]["retrying"] == 2
    assert ready.json()["backlog"]["oldest_due_age_seconds"] >= 12 * 3600

    relay.start()
    back = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # Tuesday, 10:00 in Berlin
    sent = [o.message_id for o in _tick(back) if o.status == "sent"]
    assert sorted(sent) == sorted([welcome, confirm])
    assert [o for o in _tick(back + timedelta(hours=2)) if o.status == "sent"] == []
    assert sorted(str(m["To"]) for m in relay.relay.messages()) == [
        "lead@example.com",
        "new@example.com",
    ]
    for message_id in (welcome, confirm):
        row = _row(session, message_id)
        assert (row.status, row.sent_at, row.retrying_since) == (MessageStatus.SENT, back, None)
    # The drip goes on from the email actually sent: the next one three days later.
    [_, second] = _drip(session)
    assert (second.status, second.due_at) == (MessageStatus.PENDING, back + timedelta(days=3))
    assert [o.message_id for o in _tick(second.due_at)] == [second.id]
    assert len(relay.relay.envelopes) == 3
    out = _status(second.due_at)
    assert "retrying       0" in out
    assert "degraded" not in out
    with clock.frozen_at(second.due_at):
        ready = client.get("/readyz")
        assert _gauge(client, "nurture_backlog_degraded") == 0
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")


@pytest.mark.parametrize("down", ["503", "401"])
def test_a_day_of_sendgrid_refusing_loses_nothing_and_the_drip_goes_on(
    session, sequences_loaded, sendgrid, settings, down
) -> None:
    """The same through SendGrid's API (tests/sendgrid_server.py), for a day: answering 503, or
    refusing the clinic's key (401: revoked, the clinic's to fix, not the patients' fault)."""
    if down == "503":
        sendgrid.state.script.extend(Scripted(status=503) for _ in range(1000))
    else:
        settings(sendgrid_api_key="SG.revoked")
    welcome, confirm = _start(session)
    at = START
    # Down until 22 hours in: retries wait at most an hour, so both are due again by the time
    # SendGrid is back, the next morning.
    while at <= START + timedelta(hours=22):
        assert {o.status for o in _tick(at)} <= {"pending"}
        at += timedelta(minutes=20)
    for message_id in (welcome, confirm):
        row = _row(session, message_id)
        assert (row.status, row.retrying_since) == (MessageStatus.PENDING, START)
        assert row.attempts > OLD_GIVE_UP
        assert down in (row.last_error or "")
    assert sendgrid.state.accepted == []

    sendgrid.state.script.clear()
    settings(sendgrid_api_key=sendgrid.state.api_key)
    back = START + timedelta(days=1)  # Tuesday, 10:00 in Berlin
    sent = [o.message_id for o in _tick(back) if o.status == "sent"]
    assert sorted(sent) == sorted([welcome, confirm])
    assert _tick(back + timedelta(hours=2)) == []
    assert sorted(sendgrid.state.recipients()) == ["lead@example.com", "new@example.com"]
    [_, second] = _drip(session)
    assert (second.status, second.due_at) == (MessageStatus.PENDING, back + timedelta(days=3))


def test_a_refused_smtp_login_holds_mail_until_the_password_is_fixed(
    session, sequences_loaded, settings
) -> None:
    """A 535 to AUTH is the clinic's password, not the recipient: the email waits and goes once."""
    server = SMTPServer(login=("clinic", "right-password"))
    server.start()
    try:
        settings(
            email_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=str(server.port),
            smtp_username="clinic",
            smtp_password="old-password",
            smtp_starttls="false",
        )
        welcome, confirm = _start(session)
        assert {o.status for o in _tick(START)} == {"pending"}
        for message_id in (welcome, confirm):
            row = _row(session, message_id)
            assert (row.status, row.retrying_since) == (MessageStatus.PENDING, START)
            assert "SMTP 535" in (row.last_error or "")
        assert server.relay.envelopes == []

        settings(smtp_password="right-password")
        back = START + timedelta(hours=2)
        assert sorted(o.message_id for o in _tick(back) if o.status == "sent") == sorted(
            [welcome, confirm]
        )
        assert _tick(back + timedelta(hours=2)) == []
        assert len(server.relay.envelopes) == 2
    finally:
        server.stop()


def test_given_up_after_its_window_with_a_reason_staff_read_and_the_drip_goes_on(
    session, sequences_loaded, relay, client
) -> None:
    welcome, confirm = _start(session)
    create_staff(session, email="admin@clinic.example", password=PASSWORD, role="admin", now=START)
    session.commit()
    studio = Studio(client)
    assert studio.sign_in("admin@clinic.example").status_code == 303
    at = START
    while at <= START + timedelta(days=4):
        _tick(at)
        if at == START + timedelta(days=1):
            # While it is retried, staff read since when, and when it will be given up.
            with clock.frozen_at(at):
                waiting = studio.get(f"/studio/outbox/{welcome}").text
            assert "The email service has not taken this email since" in waiting
            assert "given up at 2026-03-05 04:00 EST if the service is still down" in waiting
        at += timedelta(hours=1)
    # A confirmation is retried for two days, drip mail for three (both are settings).
    confirmation = _row(session, confirm)
    assert confirmation.status == MessageStatus.FAILED
    assert confirmation.attempts > OLD_GIVE_UP
    assert (confirmation.last_error or "").startswith("not sent: tried")
    assert "over 2 days" in (confirmation.last_error or "")
    first = _row(session, welcome)
    assert first.status == MessageStatus.FAILED
    assert "over 3 days" in (first.last_error or "")
    assert "SMTP connection failed" in (first.last_error or "")
    # Not the recipient's fault: the sequence goes on with its next email.
    [_, second] = _drip(session)
    assert second.status == MessageStatus.PENDING
    assert second.due_at > START + timedelta(days=3)

    # Staff see why on the email's page in the studio.
    page = studio.get(f"/studio/outbox/{welcome}")
    assert page.status_code == 200
    assert "not sent: tried" in page.text
    assert "over 3 days and the email service never took it" in page.text

    relay.start()
    assert [o.message_id for o in _tick(second.due_at) if o.status == "sent"] == [second.id]
    assert [str(m["To"]) for m in relay.relay.messages()] == ["lead@example.com"]


def test_a_reminder_is_retried_until_its_visit_starts_then_settled_as_stale(session, relay) -> None:
    visit = datetime(2026, 3, 6, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Friday
    data = AppointmentIn(
        email="pat@example.com",
        first_name="Pat",
        starts_at=visit,
        timezone="Europe/Berlin",
        external_id="ext-1",
    )
    with clock.frozen_at(START):
        appointment_id = appointments.book(session, data=data, now=START).appointment.id
    session.commit()
    at = START
    while at < visit:
        _tick(at)
        at += timedelta(hours=2)
    rows = _visit_rows(session, appointment_id)
    # The booking confirmation had its two days; the reminders are tried up to the visit, the
    # latest one due standing for the earlier ones (each is about the same visit).
    assert rows["confirmation@r0"].status == MessageStatus.FAILED
    earlier = rows["48h@r0"]
    assert (earlier.status, earlier.last_error) == (MessageStatus.SKIPPED, outbox.SUPERSEDED)
    assert earlier.attempts > OLD_GIVE_UP
    # The nudge, late and retried, is never sent at night nor once a later reminder is due.
    assert rows["nudge@r0"].status == MessageStatus.SKIPPED
    assert rows["nudge@r0"].attempts > 0
    latest = rows["2h@r0"]
    assert (latest.status, latest.retrying_since) == (
        MessageStatus.PENDING,
        visit - timedelta(hours=2),
    )
    assert latest.due_at <= visit
    _tick(visit)
    latest = _visit_rows(session, appointment_id)["2h@r0"]
    assert (latest.status, latest.last_error) == (MessageStatus.SKIPPED, outbox.VISIT_STARTED)
    assert relay.relay.envelopes == []


def _visit_rows(session: Session, appointment_id: int) -> dict[str, Message]:
    session.expire_all()
    query = select(Message).where(Message.appointment_id == appointment_id)
    return {m.reminder or "": m for m in session.scalars(query)}
