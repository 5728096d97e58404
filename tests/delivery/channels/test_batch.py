"""Every provider answers a batch per email: a bad one in the middle fails alone.

The engine hands a chunk to `Backend.send_batch`; these run it against each registered
provider through its real transport (the local SendGrid server in tests/, an aiosmtpd SMTP
server, the outbox directory), with the pool the engine passes and without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from nurture.core.config import get_settings
from nurture.delivery.channels.base import (
    OutgoingEmail,
    PermanentError,
    SendOutcome,
    Sent,
)
from nurture.delivery.channels.registry import get_backend
from tests.delivery.channels.test_smtp import Inbox
from tests.processes import free_port

GOOD = OutgoingEmail(
    to_email="pat@example.com",
    from_email="news@clinic.example",
    from_name="Clinic",
    subject="Hello",
    html="<p>Hello</p>",
    text="Hello\n",
)
LAST = dataclasses.replace(GOOD, to_email="sam@example.com")


def _outbox(settings: Any) -> tuple[OutgoingEmail, Callable[[], list[str]]]:
    settings(email_backend="outbox")

    def received() -> list[str]:
        files = sorted(get_settings().resolved_outbox_dir.glob("*.eml"))
        return sorted(
            str(message_from_bytes(f.read_bytes(), policy=policy.default)["To"]) for f in files
        )

    # A line break in the address can never become a header: it fails before anything is written.
    return dataclasses.replace(GOOD, to_email="lee@example.com\nBcc: x@example.com"), received


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port))
    yield inbox
    controller.stop()


@pytest.mark.parametrize("pooled", [False, True], ids=["one-by-one", "pool"])
@pytest.mark.parametrize("provider", ["outbox", "smtp", "sendgrid-pooled", "sendgrid-package"])
def test_a_batch_reports_per_email_with_a_bad_one_in_the_middle(
    provider: str, pooled: bool, settings: Any, request: pytest.FixtureRequest
) -> None:
    if provider == "outbox":
        bad, received = _outbox(settings)
    elif provider == "smtp":
        inbox: Inbox = request.getfixturevalue("smtp_inbox")
        # The relay refuses this recipient (550), as a real one refuses an unknown mailbox.
        bad = dataclasses.replace(GOOD, to_email="refused@example.com")

        def received() -> list[str]:
            return sorted(address for e in inbox.envelopes for address in e.rcpt_tos)

    else:
        server = request.getfixturevalue("sendgrid")
        settings(sendgrid_transport=provider.removeprefix("sendgrid-"))
        # SendGrid answers 400 naming from.email for a sender that is not an address.
        bad = dataclasses.replace(GOOD, to_email="lee@example.com", from_email="not-an-address")

        def received() -> list[str]:
            return sorted(server.state.recipients())

    backend = get_backend()
    emails = [GOOD, bad, LAST]
    outcomes: list[SendOutcome]
    if pooled:
        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = backend.send_batch(emails, pool=pool)
    else:
        outcomes = backend.send_batch(emails)

    first, middle, last = outcomes
    assert isinstance(first, Sent)
    assert isinstance(last, Sent)
    assert first.provider_id
    assert last.provider_id
    assert first.provider_id != last.provider_id
    assert isinstance(middle, PermanentError)
    assert received() == ["pat@example.com", "sam@example.com"]
