"""Delivery figures read from the database: for `nurture status` and `/metrics`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.outbox.models import Heartbeat, Message, MessageAttempt, MessageStatus


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the outbox stands at one moment."""

    by_status: dict[str, int]
    due_now: int
    oldest_due_age_seconds: float | None
    attempts: dict[tuple[str, str], int]  # (outcome, reason) -> count
    last_tick_at: datetime | None
    last_tick_seconds: float | None


def snapshot(session: Session, *, now: datetime) -> Snapshot:
    """Count rows by status, the due backlog and its oldest row, and attempts by reason."""
    by_status = {
        str(status): int(count)
        for status, count in session.execute(
            select(Message.status, func.count()).group_by(Message.status)
        )
    }
    due_filter = (Message.status == MessageStatus.PENDING, Message.due_at <= now)
    due_now = int(session.scalar(select(func.count()).where(*due_filter)) or 0)
    oldest = session.scalar(select(func.min(Message.due_at)).where(*due_filter))
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
        oldest_due_age_seconds=(now - oldest).total_seconds() if oldest else None,
        attempts=attempts,
        last_tick_at=beat.beat_at if beat else None,
        last_tick_seconds=beat.duration_seconds if beat else None,
    )
