"""Hand prepared emails and texts to their channels; pair each answer with its row."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from nurture.delivery.channels.base import (
    Backend,
    DeliveryError,
    OutgoingEmail,
    OutgoingText,
    TextBackend,
    UnknownOutcome,
)

log = logging.getLogger(__name__)

Outgoing = OutgoingEmail | OutgoingText


@dataclass(frozen=True, slots=True)
class Result:
    message_id: int
    subject: str
    provider_id: str | None
    error: DeliveryError | None


def _send_emails(
    backend: Backend, chunk: Sequence[tuple[int, OutgoingEmail]], pool: Executor
) -> list[Result]:
    """Send emails through the channel's batch call and pair each outcome with its row."""
    emails = [email for _, email in chunk]
    try:
        sent = backend.send_batch(emails, pool=pool)
        if len(sent) != len(emails):
            raise RuntimeError(f"{len(sent)} outcomes for {len(emails)} emails")
    except Exception as exc:  # noqa: BLE001 - any of them may have gone out: settle as unknown
        log.exception("backend %s raised for a batch of %d", backend.name, len(emails))
        what = f"the {backend.name} backend raised {type(exc).__name__}: {exc}"
        sent = [UnknownOutcome(what) for _ in emails]
    return [
        Result(mid, email.subject, None, outcome)
        if isinstance(outcome, DeliveryError)
        else Result(mid, email.subject, outcome.provider_id, None)
        for (mid, email), outcome in zip(chunk, sent, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Backends:
    email: Backend
    text: TextBackend | None

    def text_backend(self) -> TextBackend:
        if self.text is None:
            from nurture.delivery.channels.registry import get_text_backend

            object.__setattr__(self, "text", get_text_backend())
        assert self.text is not None
        return self.text


def _send_text(backends: Backends, message_id: int, item: OutgoingText) -> Result:
    """Send one text (texts have no batch request) and turn what happened into its result."""
    name = "text"
    try:
        text_backend = backends.text_backend()
        name = text_backend.name
        provider_id = text_backend.send_text(item)
    except DeliveryError as exc:
        return Result(message_id, item.subject, None, exc)
    except Exception as exc:  # noqa: BLE001 - one message's surprise must not sink its batch
        log.exception("backend %s raised for message %s", name, message_id)
        # It may have gone out before the error: settle it as unknown, never send blindly.
        unknown = UnknownOutcome(f"the {name} backend raised {type(exc).__name__}: {exc}")
        return Result(message_id, item.subject, None, unknown)
    return Result(message_id, item.subject, provider_id, None)


def send(backends: Backends, chunk: Sequence[tuple[int, Outgoing]], pool: Executor) -> list[Result]:
    """Send a chunk: its emails in one batch call, its texts one request each, in the pool."""
    texts_ = [(mid, item) for mid, item in chunk if isinstance(item, OutgoingText)]
    emails = [(mid, item) for mid, item in chunk if not isinstance(item, OutgoingText)]
    by_id = {r.message_id: r for r in _send_emails(backends.email, emails, pool)} if emails else {}
    by_id.update(
        {r.message_id: r for r in pool.map(lambda pair: _send_text(backends, *pair), texts_)}
    )
    return [by_id[mid] for mid, _ in chunk]
