"""Settling a row by hand or by a provider's word: an unknown outcome, a failed email.

The engine (service.py) and the event processor (events.py) both settle rows; this module is
below both, so neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.delivery.facts import Facts, gather
from nurture.enrollments import service as enrollments
from nurture.outbox.models import Message, MessageStatus


def advance_if_step(
    session: Session,
    message: Message,
    facts: Facts,
    at: datetime,
    batch: list[dict[str, Any]] | None = None,
) -> None:
    """Move the enrollment on to its next step once its step's email is sent."""
    if message.enrollment_id is None or message.step_id is None:
        return
    enrollment = facts.enrollments.get(message.enrollment_id)
    step = facts.steps.get(message.step_id)
    if enrollment is not None and step is not None:
        enrollments.advance(session, enrollment=enrollment, step=step, at=at, batch=batch)


def resolve_unknown(session: Session, *, message_id: int, sent: bool, now: datetime) -> Message:
    """Settle an `unknown` row: the provider had it (sent) or provably did not (send again)."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None:
        raise LookupError(f"no email #{message_id}")
    if message.status != MessageStatus.UNKNOWN:
        raise ValueError(f"email #{message_id} is {message.status}, not unknown")
    if sent:
        message.status = MessageStatus.SENT
        message.sent_at = message.sent_at or now
        message.last_error = "resolved: the provider had it"
        # Exactly as after a send: the enrollment moves on to its next step.
        advance_if_step(session, message, gather(session, [message], now), now)
    else:
        message.status = MessageStatus.PENDING
        message.due_at = now
        message.last_error = "resolved: the provider never got it; sending again"
    message.attempt_started_at = message.claimed_at = message.lease_expires_at = None
    return message


def unknown_messages(session: Session, *, ids: Sequence[int] | None = None) -> list[Message]:
    """List `unknown` emails, oldest first (only `ids`, when given)."""
    query = select(Message).where(Message.status == MessageStatus.UNKNOWN)
    if ids is not None:
        query = query.where(Message.id.in_(ids))
    return list(session.scalars(query.order_by(Message.unknown_since, Message.id)))


def settle_unknown(
    session: Session, *, message_ids: Sequence[int], sent: bool, now: datetime
) -> list[Message]:
    """Settle several `unknown` emails the same way (see `resolve_unknown`)."""
    return [
        resolve_unknown(session, message_id=message_id, sent=sent, now=now)
        for message_id in message_ids
    ]


def retry_failed(session: Session, *, message_id: int, now: datetime) -> Message:
    """Give a `failed` email another retry window, from now.

    Suppression, consent and enrollment are checked again when it is sent, as for any email.
    """
    message = session.get(Message, message_id, with_for_update=True)
    if message is None:
        raise LookupError(f"no email #{message_id}")
    if message.status != MessageStatus.FAILED:
        raise ValueError(f"email #{message_id} is {message.status}; only failed emails are retried")
    message.status = MessageStatus.PENDING
    message.due_at = now
    message.attempts = 0
    message.retrying_since = None
    message.attempt_started_at = message.claimed_at = message.lease_expires_at = None
    return message
