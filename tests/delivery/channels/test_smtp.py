"""The smtp backend against a real SMTP server (aiosmtpd), as Mailpit would receive it."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from nurture.delivery.channels.base import OutgoingEmail, PermanentError, TransientError
from nurture.delivery.channels.registry import get_backend
from tests.processes import free_port

EMAIL = OutgoingEmail(
    to_email="pat@example.com",
    from_email="appointments@clinic.example",
    from_name="Clinic",
    subject="Your visit",
    html="<p>See you soon</p>",
    text="See you soon\n",
)


class Inbox:
    """Collects what the SMTP server receives; refuses one address."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server(settings):  # type: ignore[no-untyped-def]
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port))
    yield inbox
    controller.stop()


def test_smtp_delivers_a_multipart_message(smtp_server) -> None:
    message_id = get_backend().send(EMAIL)
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["pat@example.com"]
    parsed = message_from_bytes(envelope.original_content, policy=policy.default)
    assert parsed["Message-ID"] == message_id
    assert parsed["Subject"] == "Your visit"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>See you soon</p>"


def test_refused_recipient_is_permanent(smtp_server) -> None:
    refused = dataclasses.replace(EMAIL, to_email="refused@example.com")
    with pytest.raises(PermanentError, match="refused"):
        get_backend().send(refused)


def test_unreachable_relay_is_transient(settings) -> None:
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(free_port()))
    with pytest.raises(TransientError, match="SMTP connection failed"):
        get_backend().send(EMAIL)
