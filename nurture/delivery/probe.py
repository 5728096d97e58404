"""One query that tells a tick which of its steps have anything to act on.

Most ticks find nothing due. Each of a tick's steps (events, journeys, broadcasts, reclaiming,
skipping stale rows, claiming) costs statements, a transaction and a round trip or two even when
it finds nothing; asked together, as indexed EXISTS probes in one SELECT, an idle tick is that
SELECT and its heartbeat. A step the probe passes over would have found nothing at that instant:
what arrives after it waits for the next tick, as it would have after the step itself ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, literal, select
from sqlalchemy.orm import Session

from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core.db import UTCDateTime
from nurture.delivery.events import unanswered
from nurture.outbox.models import DeliveryEvent, Heartbeat, Message, MessageStatus


@dataclass(frozen=True, slots=True)
class Work:
    """What a tick found to do at one instant."""

    due: bool  # pending rows whose time has come
    expired: bool  # claimed rows whose lease ran out (reclaiming makes them due again)
    events: bool  # stored provider events not processed yet
    unanswered: bool  # unknown emails to send again (only asked when that is enabled)
    broadcasts_due: bool  # broadcasts whose recipients are still to be planned
    broadcasts_open: bool  # planned broadcasts that may have settled every email
    journeys_at: datetime | None  # when lapse and cancel journeys were last scanned

    @property
    def claims(self) -> bool:
        """Whether reclaiming, skipping stale rows and claiming can find anything."""
        return self.due or self.expired


@cache
def _query(resend: bool) -> Select[*tuple[Any, ...]]:
    """The probe, built once per process (its expressions are constant; only times vary)."""
    now = bindparam("now", type_=UTCDateTime())
    before = bindparam("unknown_before", type_=UTCDateTime())
    # The earliest due time and lease, not EXISTS(... due_at <= now): the planner cannot tell
    # that pending rows are nearly all in the future (sent rows' due_at lies in the past too),
    # expects millions of matches and scans the table for the first one. min() over the
    # (status, due_at) index is always one index lookup.
    first_due = select(func.min(Message.due_at)).where(Message.status == MessageStatus.PENDING)
    first_expiry = select(func.min(Message.lease_expires_at)).where(
        Message.status == MessageStatus.SENDING
    )
    return select(
        first_due.scalar_subquery() <= now,
        first_expiry.scalar_subquery() < now,
        exists().where(DeliveryEvent.processed_at.is_(None)),
        exists().where(unanswered(before)) if resend else literal(False),
        exists().where(
            Broadcast.status.in_([BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING]),
            Broadcast.planned_at.is_(None),
            Broadcast.scheduled_at <= now,
        ),
        exists().where(
            Broadcast.status == BroadcastStatus.SENDING, Broadcast.planned_at.is_not(None)
        ),
        select(Heartbeat.beat_at).where(Heartbeat.name == "journeys").scalar_subquery(),
    )


def find_work(session: Session, *, now: datetime, resend_after_seconds: int | None) -> Work:
    """Probe for each step's work; `resend_after_seconds` None (or <= 0) skips unknown emails."""
    resend = resend_after_seconds is not None and resend_after_seconds > 0
    before = now - timedelta(seconds=resend_after_seconds) if resend_after_seconds else now
    due, expired, stored, silent, to_plan, planned, journeys_at = session.execute(
        _query(resend), {"now": now, "unknown_before": before}
    ).one()
    return Work(
        due=bool(due),
        expired=bool(expired),
        events=bool(stored),
        unanswered=bool(silent),
        broadcasts_due=bool(to_plan),
        broadcasts_open=bool(planned),
        journeys_at=journeys_at,
    )
