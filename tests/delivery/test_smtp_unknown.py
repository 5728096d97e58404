"""A relay that answers DATA late: one copy delivered, the row `unknown`, settled by command.

The relay (tests/smtp_server.py) keeps the message, then holds its reply past the client's
timeout, as a busy server may (RFC 5321, section 4.5.3.2.6, allows ten minutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.cli import main
from nurture.core import clock
from nurture.enrollments import service as enrollments
from nurture.outbox import plan as planning
from nurture.outbox.models import Message, MessageAttempt, MessageStatus
from tests.factories import make_lead
from tests.smtp_server import SMTPServer
from tests.tcp import Listener
from tests.ticking import tick_here as _tick

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin


@pytest.fixture
def relay(settings) -> Iterator[SMTPServer]:  # type: ignore[no-untyped-def]
    """A running relay whose client gives up waiting for a reply after half a second."""
    server = SMTPServer()
    settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(server.port),
        smtp_timeout_seconds="0.5",
        # Even with SendGrid's resend-after-silence switched on, SMTP unknowns stay put.
        unknown_resend_after_seconds="60",
    )
    server.start()
    yield server
    server.stop()


def _welcome(session: Session) -> int:
    lead = make_lead(session)
    with clock.frozen_at(START):
        enrollments.enroll(session, lead=lead, now=START)
    session.commit()
    [row] = session.scalars(select(Message))
    return row.id


def _row(session: Session, message_id: int) -> Message:
    session.expire_all()
    row = session.get(Message, message_id)
    assert row is not None
    return row


def _settle(*args: str, answer: str | None = None) -> str:
    result = CliRunner().invoke(main, ["outbox", "settle", *args], input=answer)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_late_reply_to_data_leaves_one_copy_and_an_unknown_row(
    session, sequences_loaded, relay
) -> None:
    message_id = _welcome(session)
    relay.relay.stall_data = True
    [outcome] = _tick(START)
    assert relay.relay.stalled.is_set()
    relay.relay.release.set()
    assert outcome.status == "unknown"
    row = _row(session, message_id)
    assert row.status == MessageStatus.UNKNOWN
    assert "after the message was sent" in (row.last_error or "")
    [kept] = relay.relay.messages()
    # The row keeps the Message-ID, to look the email up in the relay's log.
    assert row.provider_message_id == kept["Message-ID"]
    attempt = session.scalars(select(MessageAttempt)).one()
    assert (attempt.outcome, attempt.reason) == ("unknown", "no_answer")
    # Later ticks never send it again on their own: no webhook will ever tell.
    relay.relay.stall_data = False
    assert _tick(START + timedelta(hours=1)) == []
    assert _tick(START + timedelta(days=2)) == []
    assert len(relay.relay.envelopes) == 1
    assert _row(session, message_id).status == MessageStatus.UNKNOWN


def test_settle_lists_unknown_emails_then_marks_them_sent_together(
    session, sequences_loaded, relay
) -> None:
    message_id = _welcome(session)
    relay.relay.stall_data = True
    _tick(START)
    relay.relay.release.set()
    row = _row(session, message_id)
    listing = _settle()
    assert "1 email(s) with an unknown outcome" in listing
    assert f"#{message_id} " in listing
    assert str(row.provider_message_id) in listing
    assert "@example.com" not in listing.replace(str(row.provider_message_id), "")
    # Declining the confirmation changes nothing.
    declined = CliRunner().invoke(main, ["outbox", "settle", "--sent"], input="n\n")
    assert declined.exit_code == 1
    assert _row(session, message_id).status == MessageStatus.UNKNOWN
    with clock.frozen_at(START + timedelta(hours=1)):
        out = _settle("--sent", answer="y\n")
    assert "settled 1: mark as sent" in out
    row = _row(session, message_id)
    assert row.status == MessageStatus.SENT
    # Settled as sent, the drip moves on as after any send.
    second = session.scalars(select(Message).where(Message.id != message_id)).one()
    assert second.status == MessageStatus.PENDING
    assert second.due_at > START + timedelta(days=2)
    assert _settle().strip() == "no emails with an unknown outcome"
    assert len(relay.relay.envelopes) == 1


def test_settle_resend_sends_each_listed_email_once_more(session, relay) -> None:
    leads = [make_lead(session, email_address=f"p{i}@example.com") for i in range(3)]
    ids = [
        planning.plan(
            session,
            key=f"goodbye:{lead.id}",
            stream="transactional",
            template="goodbye",
            due_at=START,
            lead_id=lead.id,
        ).id
        for lead in leads
    ]
    session.commit()
    relay.relay.stall_data = True
    _tick(START)
    relay.relay.release.set()
    assert {_row(session, i).status for i in ids} == {MessageStatus.UNKNOWN}
    relay.relay.envelopes.clear()  # as if the relay had lost them (it said nothing back)
    relay.relay.stall_data = False
    with clock.frozen_at(START + timedelta(minutes=5)):
        out = _settle("--resend", "--id", str(ids[0]), "--id", str(ids[2]), "--yes")
    assert "settled 2: send again" in out
    sent = [o.message_id for o in _tick(START + timedelta(minutes=5)) if o.status == "sent"]
    assert sorted(sent) == [ids[0], ids[2]]
    assert sorted(str(m["To"]) for m in relay.relay.messages()) == [
        "p0@example.com",
        "p2@example.com",
    ]
    assert _row(session, ids[1]).status == MessageStatus.UNKNOWN
    unknown_only = CliRunner().invoke(main, ["outbox", "settle", "--sent", "--id", str(ids[0])])
    assert unknown_only.exit_code == 1
    assert f"#{ids[0]}" in unknown_only.output


def test_a_server_that_stalls_before_data_is_retried_not_unknown(session, relay) -> None:
    """A greeting, MAIL or RCPT reply that never comes means nothing was handed over."""
    lead = make_lead(session)
    message = planning.plan(
        session,
        key="goodbye",
        stream="transactional",
        template="goodbye",
        due_at=START,
        lead_id=lead.id,
    )
    session.commit()
    relay.stop()
    with Listener(relay.port, mode="silent"):
        [outcome] = _tick(START)
    assert outcome.status == "pending"
    row = _row(session, message.id)
    assert row.status == MessageStatus.PENDING
    assert "SMTP connection failed" in (row.last_error or "")
