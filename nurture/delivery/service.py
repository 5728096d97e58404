"""Deliver claimed outbox rows, and the tick that finds what is due."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nurture import clock
from nurture.config import get_settings
from nurture.db import session_scope
from nurture.delivery import outbox
from nurture.delivery.backends import (
    Backend,
    OutgoingEmail,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from nurture.delivery.compose import check, compose
from nurture.delivery.models import Heartbeat, Message, MessageStatus
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.sequences.models import Step

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt did to one outbox row."""

    message_id: int
    status: str
    subject: str | None = None
    detail: str | None = None


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - not crypto


def _advance_if_step(session: Session, message: Message, at: datetime) -> None:
    if message.enrollment_id is None or message.step_id is None:
        return
    enrollment = session.get(Enrollment, message.enrollment_id)
    step = session.get(Step, message.step_id)
    if enrollment is not None and step is not None:
        enrollments.advance(session, enrollment=enrollment, step=step, at=at)


def _prepare(message_id: int) -> OutgoingEmail | Outcome:
    """Re-check and render a claimed row, then mark the attempt as started (committed)."""
    now = clock.now()
    with session_scope() as session:
        message = session.get(Message, message_id, with_for_update=True)
        if message is None or message.status != MessageStatus.SENDING:
            return Outcome(message_id, "not-claimed")
        hold = check(session, message, now)
        if hold is not None:
            message.last_error = hold.reason
            message.claimed_at = message.lease_expires_at = None
            if hold.until is not None:
                message.status, message.due_at = MessageStatus.PENDING, hold.until
            else:
                message.status = hold.status
                if hold.status == MessageStatus.SKIPPED:
                    _advance_if_step(session, message, now)
            return Outcome(message_id, str(message.status), detail=hold.reason)
        email = compose(session, message)
        message.attempts += 1
        message.attempt_started_at = now
        message.subject = email.subject
        return email


def _record(message_id: int, *, provider_id: str | None, error: Exception | None) -> Outcome:
    """Write the provider's answer to the row (and advance the enrollment once sent)."""
    now = clock.now()
    settings = get_settings()
    with session_scope() as session:
        message = session.get(Message, message_id, with_for_update=True)
        if message is None:
            return Outcome(message_id, "gone")
        message.attempt_started_at = None
        message.claimed_at = message.lease_expires_at = None
        if error is None:
            message.status = MessageStatus.SENT
            message.provider_message_id = provider_id
            message.sent_at = now
            message.last_error = None
            _advance_if_step(session, message, now)
        elif isinstance(error, TransientError):
            message.last_error = str(error)[:2000]
            if message.attempts >= settings.max_send_attempts:
                message.status = MessageStatus.FAILED
            else:
                message.status = MessageStatus.PENDING
                # A 429 says when the limit resets; anything else backs off with jitter.
                retry_at = error.retry_at or now + retry_delay(message.attempts)
                message.due_at = max(retry_at, now)
        elif isinstance(error, UnknownOutcome):
            message.status, message.last_error = MessageStatus.UNKNOWN, str(error)[:2000]
        else:
            message.status, message.last_error = MessageStatus.FAILED, str(error)[:2000]
        return Outcome(message_id, str(message.status), message.subject, message.last_error)


def deliver(message_id: int, *, backend: Backend) -> Outcome:
    """Send one claimed outbox row through `backend`, at most once."""
    prepared = _prepare(message_id)
    if isinstance(prepared, Outcome):
        log.info("message %s not sent: %s (%s)", message_id, prepared.status, prepared.detail)
        return prepared
    try:
        provider_id = backend.send(prepared)
    except (TransientError, PermanentError, UnknownOutcome) as exc:
        outcome = _record(message_id, provider_id=None, error=exc)
        log.warning("message %s %s: %s", message_id, outcome.status, outcome.detail)
        return outcome
    outcome = _record(message_id, provider_id=provider_id, error=None)
    log.info("message %s sent via %s", message_id, backend.name)
    return outcome


@dataclass(slots=True)
class TickResult:
    """What one tick did."""

    released: int = 0
    unknown: int = 0
    claimed: list[int] = field(default_factory=list)


def beat_heartbeat(session: Session, *, name: str, at: datetime) -> None:
    """Upsert the time a periodic process last ran."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Heartbeat).values(name=name, beat_at=at)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"beat_at": at}))


def tick(*, dispatch: Callable[[list[int]], None], max_batches: int = 50) -> TickResult:
    """Release abandoned rows, claim what is due in batches and hand each batch to `dispatch`."""
    settings = get_settings()
    lease = timedelta(seconds=settings.claim_lease_seconds)
    result = TickResult()
    now = clock.now()
    with session_scope() as session:
        result.released, result.unknown = outbox.reclaim_expired(session, now=now)
        beat_heartbeat(session, name="tick", at=now)
    for _ in range(max_batches):
        with session_scope() as session:
            ids = outbox.claim_due(session, now=now, limit=settings.tick_batch_size, lease=lease)
        if not ids:
            break
        dispatch(ids)
        result.claimed.extend(ids)
        if len(ids) < settings.tick_batch_size:
            break
    return result
