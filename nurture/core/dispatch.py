"""Ask the workers for work now, by task name, without importing the tasks.

The Celery app registers how to reach the broker when it is imported (`nurture.celery_app`).
Until then, or while the broker is away, nothing is lost: every message and job is a row,
and the next tick (or the job sweep) finds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# The names the Celery tasks are registered under (see nurture.tasks).
TICK = "nurture.tick"
DELIVER_BATCH = "nurture.deliver_batch"
PROCESS_EVENTS = "nurture.process_events"
PURGE_UNCONFIRMED = "nurture.purge_unconfirmed"
RUN_JOB = "nurture.run_job"

Sender = Callable[[str, tuple[Any, ...]], None]
_sender: Sender | None = None

# After the broker failed to answer, requests stop trying it for this long: the tick (beat)
# and the job sweep pick up what the database holds, so a request never waits on it.
BROKER_AWAY_SECONDS = 30.0
_broker_away_until = 0.0


def register(sender: Sender | None) -> None:
    """Set how a task is queued by name (None: queue nothing, the tick picks the work up)."""
    global _sender
    _sender = sender


def send(task: str, *args: Any) -> bool:
    """Queue `task` with `args`; False if no broker is registered or it cannot be reached."""
    global _broker_away_until
    if _sender is None or time.monotonic() < _broker_away_until:
        return False
    try:
        _sender(task, args)
    except Exception as exc:  # noqa: BLE001 - the work is a row; the tick or sweep finds it
        _broker_away_until = time.monotonic() + BROKER_AWAY_SECONDS
        log.warning("could not reach the broker to queue %s (%s); the tick catches up", task, exc)
        return False
    return True


def broker_reset() -> None:
    """Forget that the broker was away (tests)."""
    global _broker_away_until
    _broker_away_until = 0.0


def nudge() -> None:
    """Ask for a tick now (after a signup) instead of waiting for beat; harmless if it fails."""
    send(TICK)


def queue_events() -> None:
    """Ask for stored provider events to be processed now; the next tick does it otherwise."""
    send(PROCESS_EVENTS)


def enqueue_job(job_id: int) -> bool:
    """Hand a studio job to the workers; False if it was not queued (the sweep sends it later)."""
    return send(RUN_JOB, job_id)
