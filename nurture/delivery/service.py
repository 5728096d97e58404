"""Deliver claimed outbox rows, and the tick that finds what is due."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nurture.broadcasts import planning as broadcasts
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_scope
from nurture.delivery import events, outbox, probe
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


def _journeys_due(last: datetime | None, now: datetime) -> bool:
    """Whether the lapse and cancel scans are due, given when they last ran."""
    recent = now - timedelta(seconds=JOURNEY_SCAN_SECONDS)
    return last is None or not recent < last <= now


def _scan_journeys(now: datetime) -> int:
    """Start lapse and cancel journeys, at most every JOURNEY_SCAN_SECONDS; never fail a tick."""
    try:
        with session_scope() as session:
            # Asked again under this transaction: the probe's answer may be a tick old.
            last = session.get(Heartbeat, "journeys")
            if not _journeys_due(last.beat_at if last else None, now):
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

    One probe first asks which steps have anything to act on (see `probe`); a tick that finds
    nothing is that query and its heartbeat, in one transaction. On PostgreSQL concurrent ticks
    skip each other's rows rather than wait for them.
    """
    started = time.perf_counter()
    settings = get_settings()
    result = TickResult()
    now = clock.now()
    # Only SendGrid's events can tell an unknown email went nowhere; an SMTP relay sends
    # none, so its unknown emails wait for `nurture outbox settle`.
    sendgrid = settings.resolved_email_backend == "sendgrid"
    resend_after = settings.unknown_resend_after_seconds if sendgrid else None
    with session_scope() as session:
        work = probe.find_work(session, now=now, resend_after_seconds=resend_after)
        journeys_due = _journeys_due(work.journeys_at, now)
        if not (work.claims or work.events or work.unanswered or journeys_due):
            if not (work.broadcasts_due or work.broadcasts_open):
                result.duration = time.perf_counter() - started
                _beat(session, now=now, duration=result.duration)
                return result
    if work.events or work.unanswered:
        with session_scope() as session:
            # Catch up on provider events a lost task left unprocessed, then settle unknowns.
            result.events = events.process_pending(session, now=now)
            if resend_after is not None:
                result.resent = events.resend_unanswered(
                    session, now=now, after_seconds=resend_after
                )
    if journeys_due:
        result.journeys = _scan_journeys(now)
    if work.broadcasts_due:
        result.broadcast_emails = _plan_broadcasts(now)
    # Anything the steps above did may have made rows due (settled events plan next steps,
    # resent emails, started journeys, planned broadcasts): claim then too.
    if work.claims or work.events or work.unanswered or journeys_due or work.broadcasts_due:
        _claim(result, dispatch=dispatch, now=now, max_batches=max_batches)
    if work.broadcasts_open or work.broadcasts_due:
        # After dispatching: a worker sending in this process has settled its rows by now.
        _finish_broadcasts(now)
    result.duration = time.perf_counter() - started
    with session_scope() as session:
        _beat(session, now=now, duration=result.duration)
    return result


def _claim(
    result: TickResult, *, dispatch: Callable[[list[int]], None], now: datetime, max_batches: int
) -> None:
    """Reclaim abandoned rows, skip stale ones, then claim and dispatch due ones in batches."""
    settings = get_settings()
    lease = timedelta(seconds=settings.claim_lease_seconds)
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


def _beat(session: Session, *, now: datetime, duration: float) -> None:
    """Record the tick's heartbeat. It only tells health checks the tick runs, so on PostgreSQL
    its transaction commits without waiting for the disk: a crash loses at most the last beats,
    and the next commit that waits flushes this one too."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ASYNC_COMMIT)
    beat_heartbeat(session, name="tick", at=now, duration=duration)


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
