"""Turn a due broadcast into outbox rows, one per lead, each at the lead's next send window.

The tick calls `plan_due`. Each batch is one transaction that first moves the broadcast's
`planned_through` from the value it read to the batch's last lead id (compare-and-set): of two
ticks that read the same position, only the first to write plans the batch; the other changes
nothing and stops. The outbox key (broadcast, lead) is a second guard: planning a lead twice
is a no-op. Consent and suppression are checked here, and again by delivery when each email
is sent (delivery.facts.check), since either may change in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Exists

from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core.config import get_settings
from nurture.core.db import session_scope
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.segments import Segment, conditions, segment_from_json
from nurture.locations import service as locations
from nurture.outbox.models import Message, MessageStatus, Stream, Suppression
from nurture.sequences.schedule import SendWindow, next_opening

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Per tick, so one large broadcast cannot hold up sending what is already due.
MAX_BATCHES = 20
# Rows not yet settled: while any remain, the broadcast is still sending.
OPEN = (MessageStatus.PENDING, MessageStatus.SENDING)


def key_of(broadcast_id: int, lead_id: int) -> str:
    """Return the outbox key of one lead's copy of a broadcast."""
    return f"broadcast:{broadcast_id}:lead:{lead_id}"


def window_of(broadcast: Broadcast, *, location_key: str | None = None) -> SendWindow:
    """Return the local hours a broadcast may arrive, every day but the lead's site's closures."""
    return SendWindow(
        start_hour=broadcast.window_start_hour,
        end_hour=broadcast.window_end_hour,
        closures=frozenset(locations.site(location_key).closures),
    )


def zone_of(lead_zone: str | None) -> ZoneInfo:
    """Return a lead's time zone, or the clinic's when theirs is unset or unknown."""
    try:
        return ZoneInfo(lead_zone or get_settings().clinic_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(get_settings().clinic_timezone)


def suppressed() -> Exists:
    """Match leads whose address is on the suppression list."""
    return exists().where(Suppression.email == Lead.email)


def may_receive() -> list[ColumnElement[bool]]:
    """Conditions on `Lead` for receiving marketing mail now: subscribed and not suppressed."""
    return [Lead.status == LeadStatus.ACTIVE, ~suppressed()]


def segment_of(broadcast: Broadcast) -> Segment:
    """Return the broadcast's stored segment."""
    return segment_from_json(broadcast.segment)


@dataclass(slots=True)
class PlanResult:
    """What one call of `plan_due` did."""

    planned: int = 0
    excluded: int = 0
    started: list[int] = field(default_factory=list)


def _due(session: Session, now: datetime) -> Broadcast | None:
    return session.scalar(
        select(Broadcast)
        .where(
            Broadcast.status.in_([BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING]),
            Broadcast.planned_at.is_(None),
            Broadcast.scheduled_at <= now,
        )
        .order_by(Broadcast.scheduled_at, Broadcast.id)
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """What one planning batch did; `more` says whether leads may remain."""

    planned: int
    excluded: int
    more: bool


def plan_batch(session: Session, *, broadcast: Broadcast, now: datetime, size: int) -> Batch | None:
    """Plan the next `size` leads of a due broadcast; None if another planner took the batch."""
    start = broadcast.planned_through
    try:
        segment = segment_of(broadcast)
    except ValueError:
        # Stored segments are checked when saved; one that cannot be read sends to no one.
        log.exception("broadcast %s has an unreadable segment; cancelling it", broadcast.id)
        broadcast.status, broadcast.cancelled_at = BroadcastStatus.CANCELLED, now
        return Batch(0, 0, more=False)
    rows = session.execute(
        select(
            Lead.id,
            Lead.timezone,
            Lead.location_key,
            Lead.status,
            suppressed().label("suppressed"),
        )
        .where(*conditions(segment), Lead.id > start)
        .order_by(Lead.id)
        .limit(size)
    ).all()
    done = len(rows) < size
    eligible = [r for r in rows if r.status == LeadStatus.ACTIVE and not r.suppressed]
    claimed = session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast.id,
            Broadcast.planned_through == start,
            Broadcast.planned_at.is_(None),
            Broadcast.status.in_([BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING]),
        )
        .values(
            planned_through=rows[-1].id if rows else start,
            status=BroadcastStatus.SENDING,
            planned_at=now if done else None,
            excluded_count=Broadcast.excluded_count + (len(rows) - len(eligible)),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if int(claimed.rowcount) != 1:  # type: ignore[attr-defined]
        return None
    begins = max(now, broadcast.scheduled_at or now)
    planned = _insert(
        session,
        [
            {
                "key": key_of(broadcast.id, r.id),
                "stream": Stream.MARKETING,
                "lead_id": r.id,
                "broadcast_id": broadcast.id,
                "due_at": next_opening(
                    begins,
                    tz=zone_of(r.timezone),
                    window=window_of(broadcast, location_key=r.location_key),
                ),
            }
            for r in eligible
        ],
    )
    if planned:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast.id)
            .values(planned_count=Broadcast.planned_count + planned)
            .execution_options(synchronize_session=False)
        )
    return Batch(planned, len(rows) - len(eligible), more=not done)


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping any that exist; return how many were new."""
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    new = session.scalars(
        insert(Message)
        .values([{"status": MessageStatus.PENDING, "context": {}, **row} for row in rows])
        .on_conflict_do_nothing()
        .returning(Message.id)
    )
    return len(new.all())


def finish_sent(session: Session, *, now: datetime) -> list[int]:
    """Mark broadcasts sent once every recipient is planned and every email has settled."""
    open_rows = exists().where(Message.broadcast_id == Broadcast.id, Message.status.in_(OPEN))
    ids = list(
        session.scalars(
            select(Broadcast.id).where(
                Broadcast.status == BroadcastStatus.SENDING,
                Broadcast.planned_at.is_not(None),
                ~open_rows,
            )
        )
    )
    if ids:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id.in_(ids), Broadcast.status == BroadcastStatus.SENDING)
            .values(status=BroadcastStatus.SENT, finished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def plan_due(
    *, now: datetime, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES
) -> PlanResult:
    """Plan due broadcasts in batches, each in its own transaction."""
    result = PlanResult()
    for _ in range(max_batches):
        with session_scope() as session:
            broadcast = _due(session, now)
            if broadcast is None:
                break
            if broadcast.status == BroadcastStatus.SCHEDULED:
                result.started.append(broadcast.id)
            batch = plan_batch(session, broadcast=broadcast, now=now, size=batch_size)
        if batch is not None:
            result.planned += batch.planned
            result.excluded += batch.excluded
    return result


def pending_count(session: Session, *, broadcast_id: int) -> int:
    """Count a broadcast's emails that are not settled yet (due later, held, or in flight)."""
    return int(
        session.scalar(
            select(func.count()).where(
                and_(Message.broadcast_id == broadcast_id, Message.status.in_(OPEN))
            )
        )
        or 0
    )
