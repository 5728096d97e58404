"""Deliver claimed outbox rows, and the tick that finds what is due."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nurture.broadcasts import planning as broadcasts
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_scope
from nurture.delivery import events, outbox
from nurture.delivery.pipeline import deliver, deliver_batch  # the engine's entry points
from nurture.delivery.send import STOPPED_WHILE_CLAIMED, Outcome, lock_for_cap
from nurture.enrollments import journeys
from nurture.outbox.models import (
    Heartbeat,
)

__all__ = [
    "STOPPED_WHILE_CLAIMED",
    "Outcome",
    "TickResult",
    "beat_heartbeat",
    "deliver",
    "deliver_batch",
    "lock_for_cap",
    "tick",
]

log = logging.getLogger(__name__)

# Absences (a lapse, a cancel not rebooked) are counted in days: a scan every few minutes is
# plenty, and keeps their queries off most ticks.
JOURNEY_SCAN_SECONDS = 300


@dataclass(slots=True)
class TickResult:
    """What one tick did."""

    released: int = 0
    unknown: int = 0
    claimed: list[int] = field(default_factory=list)
    duration: float = 0.0
    events: int = 0
    resent: int = 0
    stale: int = 0  # due rows settled as skipped before claiming (visit started, superseded)
    journeys: int = 0  # enrollments the lapse and cancel scans started
    broadcast_emails: int = 0  # emails of due broadcasts planned by this tick


def beat_heartbeat(
    session: Session, *, name: str, at: datetime, duration: float | None = None
) -> None:
    """Upsert the time a periodic process last ran (and how long it took)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {"beat_at": at, "duration_seconds": duration}
    stmt = insert(Heartbeat).values(name=name, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def _scan_journeys(now: datetime) -> int:
    """Start lapse and cancel journeys, at most every JOURNEY_SCAN_SECONDS; never fail a tick."""
    try:
        with session_scope() as session:
            last = session.get(Heartbeat, "journeys")
            recent = now - timedelta(seconds=JOURNEY_SCAN_SECONDS)
            if last is not None and recent < last.beat_at <= now:
                return 0
            started = journeys.scan(session, now=now)
            beat_heartbeat(session, name="journeys", at=now)
            return started
    except Exception:
        log.exception("could not scan for journeys to start; the next tick tries again")
        return 0


def _plan_broadcasts(now: datetime) -> int:
    """Plan the recipients of due broadcasts; never fail a tick (the next one goes on)."""
    try:
        return broadcasts.plan_due(now=now).planned
    except Exception:
        log.exception("could not plan due broadcasts; the next tick tries again")
        return 0


def _finish_broadcasts(now: datetime) -> None:
    """Mark broadcasts whose every email has settled as sent; never fail a tick."""
    try:
        with session_scope() as session:
            broadcasts.finish_sent(session, now=now)
    except Exception:
        log.exception("could not settle finished broadcasts; the next tick tries again")


def tick(*, dispatch: Callable[[list[int]], None], max_batches: int = 50) -> TickResult:
    """Release abandoned rows, claim what is due in batches and hand each batch to `dispatch`.

    On PostgreSQL concurrent ticks skip each other's rows rather than wait for them.
    """
    started = time.perf_counter()
    settings = get_settings()
    lease = timedelta(seconds=settings.claim_lease_seconds)
    result = TickResult()
    now = clock.now()
    with session_scope() as session:
        # Catch up on provider events a lost task left unprocessed, then settle unknowns.
        result.events = events.process_pending(session, now=now)
        # Only SendGrid's events can tell an unknown email went nowhere; an SMTP relay sends
        # none, so its unknown emails wait for `nurture outbox settle`.
        if settings.resolved_email_backend == "sendgrid":
            result.resent = events.resend_unanswered(
                session, now=now, after_seconds=settings.unknown_resend_after_seconds
            )
    result.journeys = _scan_journeys(now)
    result.broadcast_emails = _plan_broadcasts(now)
    room = settings.max_in_flight
    for batch in range(max_batches):
        with session_scope() as session:
            if batch == 0:
                result.released, result.unknown = outbox.reclaim_expired(session, now=now)
                result.stale = outbox.skip_stale(session, now=now)
                # Claim no more than the workers can start before the lease runs out.
                room = settings.max_in_flight - outbox.in_flight(session)
            if room <= 0:
                break
            limit = min(settings.tick_batch_size, room)
            ids = outbox.claim_due(session, now=now, limit=limit, lease=lease)
            room -= len(ids)
        if not ids:
            break
        dispatch(ids)
        result.claimed.extend(ids)
        if len(ids) < limit:
            break
    # After dispatching: a worker sending in this process has settled its rows by now.
    _finish_broadcasts(now)
    result.duration = time.perf_counter() - started
    with session_scope() as session:
        beat_heartbeat(session, name="tick", at=now, duration=result.duration)
    return result
