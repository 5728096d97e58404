"""Celery tasks: thin wrappers that take ids and call the delivery and jobs services."""

from __future__ import annotations

import logging
from functools import lru_cache

from nurture.celery_app import app
from nurture.core import dispatch
from nurture.delivery import service
from nurture.delivery.channels.base import Backend, TextBackend
from nurture.delivery.channels.registry import get_backend, get_text_backend
from nurture.delivery.ratelimit import get_limiter, get_text_limiter

log = logging.getLogger(__name__)


@app.task(name=dispatch.TICK, ignore_result=True)
def tick() -> int:
    """Claim due outbox rows and queue them for the workers (and re-send stalled studio jobs)."""
    result = service.tick(dispatch=lambda ids: deliver_batch.delay(ids))
    _sweep_jobs()
    if result.claimed or result.released or result.unknown or result.stale:
        log.info(
            "tick claimed=%d released=%d unknown=%d stale=%d",
            len(result.claimed),
            result.released,
            result.unknown,
            result.stale,
        )
    return len(result.claimed)


@lru_cache(maxsize=1)
def _backend() -> Backend:
    # One backend per worker process, so its HTTP connections are reused across batches.
    return get_backend()


@lru_cache(maxsize=1)
def _text_backend() -> TextBackend:
    return get_text_backend()


@app.task(name=dispatch.DELIVER_BATCH, ignore_result=True)
def deliver_batch(message_ids: list[int]) -> None:
    """Send a batch of claimed outbox rows (emails and texts)."""
    service.deliver_batch(
        message_ids,
        backend=_backend(),
        limiter=get_limiter(),
        texts=_text_backend(),
        text_limiter=get_text_limiter(),
    )


@app.task(name=dispatch.PROCESS_EVENTS, ignore_result=True)
def process_events() -> int:
    """Act on stored provider events (suppressions, settling unknown emails)."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.delivery import events

    with session_scope() as session:
        return events.process_pending(session, now=clock.now())


@app.task(name=dispatch.PURGE_UNCONFIRMED, ignore_result=True)
def purge_unconfirmed() -> int:
    """Delete leads that never confirmed their address in time."""
    from nurture.appointments import calcom_series
    from nurture.core import clock
    from nurture.core.config import get_settings
    from nurture.core.db import session_scope
    from nurture.leads import erasure as leads

    with session_scope() as session:
        # Cal.com requests whose time passed without the host deciding go the same way.
        calcom_series.forget_past(session, now=clock.now())
        return leads.purge_unconfirmed(
            session, now=clock.now(), days=get_settings().purge_unconfirmed_days
        )


@app.task(name=dispatch.RUN_JOB, ignore_result=True)
def run_job(job_id: int) -> str:
    """Run a studio job (a lead import) that the database holds; return how it ended."""
    from nurture.jobs import service as jobs

    return jobs.run(job_id)


def _sweep_jobs() -> None:
    # Riding on the tick: beat's one heartbeat also re-sends studio jobs whose message was lost
    # or whose worker died. Its failure must never hold up email delivery.
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.jobs import service as jobs

    try:
        with session_scope() as session:
            sent = jobs.sweep(session, now=clock.now(), dispatch=lambda i: run_job.delay(i))
    except Exception:
        log.exception("could not sweep studio jobs; the next tick tries again")
        return
    if sent:
        log.info("tick sent %d studio job(s) again", len(sent))
