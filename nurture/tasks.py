"""Celery tasks: thin wrappers that take ids and call the delivery service."""

from __future__ import annotations

import logging
from functools import lru_cache

from nurture.celery_app import app
from nurture.delivery import service
from nurture.delivery.backends import Backend, get_backend
from nurture.delivery.ratelimit import get_limiter

log = logging.getLogger(__name__)


@app.task(name="nurture.tick", ignore_result=True)
def tick() -> int:
    """Claim due outbox rows and queue them for the workers; return how many."""
    result = service.tick(dispatch=lambda ids: deliver_batch.delay(ids))
    if result.claimed or result.released or result.unknown:
        log.info(
            "tick claimed=%d released=%d unknown=%d",
            len(result.claimed),
            result.released,
            result.unknown,
        )
    return len(result.claimed)


@lru_cache(maxsize=1)
def _backend() -> Backend:
    # One backend per worker process, so its HTTP connections are reused across batches.
    return get_backend()


@app.task(name="nurture.deliver_batch", ignore_result=True)
def deliver_batch(message_ids: list[int]) -> None:
    """Send a batch of claimed outbox rows."""
    service.deliver_batch(message_ids, backend=_backend(), limiter=get_limiter())


@app.task(name="nurture.process_events", ignore_result=True)
def process_events() -> int:
    """Act on stored provider events (suppressions, settling unknown emails)."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery import events

    with session_scope() as session:
        return events.process_pending(session, now=clock.now())


@app.task(name="nurture.purge_unconfirmed", ignore_result=True)
def purge_unconfirmed() -> int:
    """Delete leads that never confirmed their address in time."""
    from nurture import clock
    from nurture.config import get_settings
    from nurture.db import session_scope
    from nurture.leads import service as leads

    with session_scope() as session:
        return leads.purge_unconfirmed(
            session, now=clock.now(), days=get_settings().purge_unconfirmed_days
        )


def nudge() -> None:
    """Ask for a tick now (after a signup) instead of waiting for beat; harmless if it fails."""
    try:
        tick.apply_async(retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker being away must not fail a signup
        log.warning("could not reach the broker to nudge a tick (%s); beat will catch up", exc)
