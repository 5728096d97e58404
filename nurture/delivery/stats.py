"""Delivery figures read from the database: for `nurture status`, `/metrics` and `/readyz`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.delivery.models import Heartbeat, Message, MessageAttempt, MessageStatus


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the outbox stands at one moment."""

    by_status: dict[str, int]
    due_now: int
    # Emails waiting after a passing failure (provider or network down), due now or later.
    retrying: int
    # How long the oldest email that should have gone has waited: since its due time, or,
    # for one being retried, since it first failed.
    oldest_due_age_seconds: float | None
    attempts: dict[tuple[str, str], int]  # (outcome, reason) -> count
    last_tick_at: datetime | None
    last_tick_seconds: float | None
    # Rows a worker holds: how many, how many of them reached the provider (these become
    # `unknown`, the others `pending`, if their worker died) and when the leases run out.
    in_flight: int = 0
    in_flight_started: int = 0
    lease_expires_first: datetime | None = None
    lease_expires_last: datetime | None = None

    def degraded(self, threshold_seconds: float) -> bool:
        """Tell whether the backlog is older than `threshold_seconds`."""
        age = self.oldest_due_age_seconds
        return age is not None and age > threshold_seconds


def snapshot(session: Session, *, now: datetime) -> Snapshot:
    """Count rows by status, the backlog and its oldest row, leases and attempts by reason."""
    by_status = {
        str(status): int(count)
        for status, count in session.execute(
            select(Message.status, func.count()).group_by(Message.status)
        )
    }
    pending = Message.status == MessageStatus.PENDING
    due_filter = (pending, Message.due_at <= now)
    due_now = int(session.scalar(select(func.count()).where(*due_filter)) or 0)
    oldest_due = session.scalar(
        select(func.min(Message.due_at)).where(*due_filter, Message.retrying_since.is_(None))
    )
    retrying, oldest_failure = session.execute(
        select(func.count(), func.min(Message.retrying_since)).where(
            pending, Message.retrying_since.is_not(None)
        )
    ).one()
    oldest = min((t for t in (oldest_due, oldest_failure) if t is not None), default=None)
    sending = Message.status == MessageStatus.SENDING
    in_flight, started, first, last = session.execute(
        select(
            func.count(),
            func.count(Message.attempt_started_at),
            func.min(Message.lease_expires_at),
            func.max(Message.lease_expires_at),
        ).where(sending)
    ).one()
    attempts = {
        (str(outcome), str(reason or "")): int(count)
        for outcome, reason, count in session.execute(
            select(MessageAttempt.outcome, MessageAttempt.reason, func.count()).group_by(
                MessageAttempt.outcome, MessageAttempt.reason
            )
        )
    }
    beat = session.get(Heartbeat, "tick")
    return Snapshot(
        by_status=by_status,
        due_now=due_now,
        retrying=int(retrying or 0),
        oldest_due_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else None,
        attempts=attempts,
        last_tick_at=beat.beat_at if beat else None,
        last_tick_seconds=beat.duration_seconds if beat else None,
        in_flight=int(in_flight or 0),
        in_flight_started=int(started or 0),
        lease_expires_first=first,
        lease_expires_last=last,
    )
