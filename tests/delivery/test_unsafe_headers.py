"""A name that slipped past the entry checks never adds a header and fails only its own email.

The leads are written straight to the database, as rows from before the checks (or from a path
that forgot them) would be. Each backend gets one batch with a good name, a name holding an
RFC 2047 encoded word that decodes to CRLF + Bcc, and a name holding U+2028.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from nurture.core import clock
from nurture.core.db import session_scope
from nurture.core.headers import UnsafeHeader
from nurture.delivery import outbox, service
from nurture.delivery.channels.base import Backend, OutgoingEmail, PermanentError
from nurture.delivery.channels.mime import build_mime
from nurture.delivery.channels.outbox import OutboxBackend
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageAttempt, MessageStatus
from tests.delivery.channels.test_smtp import Inbox
from tests.factories import make_lead
from tests.processes import free_port

NOW = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin
ENCODED_WORD = "=?utf-8?q?Ann=0D=0ABcc=3A_evil=40evil.example?="
NAMES = {
    "good@example.com": "Robin",
    "encoded@example.com": ENCODED_WORD,
    "separator@example.com": "Ann\u2028Lee",
}


def _header_block(data: bytes) -> bytes:
    return re.split(rb"\r\n\r\n|\n\n", data, maxsplit=1)[0]


def _batch(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Enroll one lead per name and make each one's welcome email due; return row ids."""
    for address, name in NAMES.items():
        lead = make_lead(session, email_address=address, first_name=name)
        enrollments.enroll(session, lead=lead, now=NOW - timedelta(days=1))
    session.execute(update(Message).values(due_at=NOW - timedelta(minutes=1)))
    session.commit()
    rows = session.scalars(select(Message)).all()
    return {m.lead.email: m.id for m in rows}


def _send_batch() -> dict[int, service.Outcome]:
    with clock.frozen_at(NOW), session_scope() as s:
        ids = outbox.claim_due(s, now=NOW, limit=10, lease=timedelta(minutes=5))
    assert len(ids) == 3, "the three emails must go out in one batch"
    with clock.frozen_at(NOW):
        outcomes = service.deliver_batch(ids, backend=get_backend())
    return {o.message_id: o for o in outcomes}


def _assert_only_the_encoded_word_failed(session, ids: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = {address: session.get(Message, mid) for address, mid in ids.items()}
    assert rows["good@example.com"].status == MessageStatus.SENT
    # U+2028 is folded to a space: the lead still gets the email, on one header line.
    assert rows["separator@example.com"].status == MessageStatus.SENT
    assert rows["separator@example.com"].subject == "Welcome, Ann Lee: your first short read"
    bad = rows["encoded@example.com"]
    assert bad.status == MessageStatus.FAILED
    assert "Subject header holds an encoded word" in (bad.last_error or "")
    attempt = session.scalars(select(MessageAttempt).where(MessageAttempt.message_id == bad.id))
    assert [a.outcome for a in attempt] == ["failed"]
    assert not any(r.status == MessageStatus.UNKNOWN for r in rows.values())


@pytest.mark.usefixtures("sequences_loaded")
def test_outbox_backend_writes_the_others_and_no_bcc(session, settings) -> None:
    settings(email_backend="outbox")
    ids = _batch(session)
    _send_batch()
    _assert_only_the_encoded_word_failed(session, ids)
    files = sorted(settings().resolved_outbox_dir.glob("*.eml"))
    assert len(files) == 2
    for path in files:
        head = _header_block(path.read_bytes())
        assert b"\nBcc:" not in head
        assert b"evil.example" not in head
        assert "\u2028".encode() not in head


@pytest.mark.usefixtures("sequences_loaded")
def test_smtp_backend_sends_the_others_and_no_bcc(session, settings) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port))
        ids = _batch(session)
        _send_batch()
    finally:
        controller.stop()
    _assert_only_the_encoded_word_failed(session, ids)
    assert sorted(r for e in inbox.envelopes for r in e.rcpt_tos) == [
        "good@example.com",
        "separator@example.com",
    ]
    for envelope in inbox.envelopes:
        head = _header_block(envelope.original_content)
        assert b"\nBcc:" not in head
        assert b"evil.example" not in head


@pytest.mark.usefixtures("sequences_loaded")
def test_sendgrid_backend_sends_the_others(session, sendgrid) -> None:
    ids = _batch(session)
    _send_batch()
    _assert_only_the_encoded_word_failed(session, ids)
    assert sorted(sendgrid.state.recipients()) == ["good@example.com", "separator@example.com"]
    assert "evil.example" not in json.dumps(sendgrid.state.accepted)
    for body in sendgrid.state.emails():  # each email as sent, batched or not
        header_values = [body["subject"], body["from"].get("name", ""), *body["headers"].values()]
        assert not any(re.search("[\r\n\u2028\u2029\x85]", v) for v in header_values)


EMAIL = OutgoingEmail(
    to_email="pat@example.com",
    from_email="news@clinic.example",
    from_name="Clinic",
    subject="Hello",
    html="<p>Hi</p>",
    text="Hi\n",
)


@pytest.mark.parametrize(
    "change",
    [
        {"subject": f"Hi {ENCODED_WORD}"},
        {"from_name": ENCODED_WORD},
        {"headers": {"List-Id": f"x {ENCODED_WORD}"}},
        {"headers": {"Bcc": "evil@evil.example"}},
        {"headers": {"X-A\r\nBcc": "evil@evil.example"}},
        {"to_email": "pat@example.com, evil@evil.example"},
        {"to_email": "pat@example.com\r\nBcc: evil@evil.example"},
        {"reply_to": "=?utf-8?q?a=40b.example=2C_evil=40evil.example?="},
    ],
)
def test_no_field_of_an_email_can_add_a_header_or_recipient(change) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeHeader):
        build_mime(dataclasses.replace(EMAIL, **change), "<id@nurture.local>")


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b"])
def test_line_breaks_in_subject_and_names_become_spaces(separator) -> None:  # type: ignore[no-untyped-def]
    email = dataclasses.replace(
        EMAIL, subject=f"Hi{separator}Bcc: x@y.example", from_name=f"Clinic{separator}Bcc: x"
    )
    head = _header_block(bytes(build_mime(email, "<id@nurture.local>")))
    assert b"\r\nBcc" not in head
    assert b"Subject: Hi Bcc: x@y.example\r\n" in head


def test_outbox_backend_refuses_an_unsafe_email_as_permanent(settings) -> None:
    settings(email_backend="outbox")
    with pytest.raises(PermanentError, match="could not build the email"):
        get_backend().send(dataclasses.replace(EMAIL, subject=f"Hi {ENCODED_WORD}"))
    assert not list(settings().resolved_outbox_dir.glob("*.eml"))


class _Surprising(Backend):
    """A backend that hands every email to the outbox, but raises for one address."""

    name = "surprising"

    def __init__(self, inner: OutboxBackend) -> None:
        self.inner = inner

    def send(self, email: OutgoingEmail) -> str:
        if email.to_email == "encoded@example.com":
            raise RuntimeError("the provider library broke")
        return self.inner.send(email)


@pytest.mark.usefixtures("sequences_loaded")
def test_a_backend_that_raises_anything_settles_only_that_email(session, settings) -> None:
    settings(email_backend="outbox")
    ids = _batch(session)
    session.execute(update(Lead).values(first_name="Robin"))
    session.commit()
    with clock.frozen_at(NOW), session_scope() as s:
        claimed = outbox.claim_due(s, now=NOW, limit=10, lease=timedelta(minutes=5))
    with clock.frozen_at(NOW):
        backend = _Surprising(OutboxBackend(settings().resolved_outbox_dir))
        service.deliver_batch(claimed, backend=backend)
    session.expire_all()
    status = {address: session.get(Message, mid).status for address, mid in ids.items()}
    assert status == {
        "good@example.com": MessageStatus.SENT,
        "encoded@example.com": MessageStatus.UNKNOWN,
        "separator@example.com": MessageStatus.SENT,
    }
    assert "RuntimeError" in (session.get(Message, ids["encoded@example.com"]).last_error or "")
