"""Celery tasks: thin wrappers that take ids and call the delivery service."""

from __future__ import annotations

import logging

from nurture.celery_app import app
from nurture.delivery import service
from nurture.delivery.backends import get_backend

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


@app.task(name="nurture.deliver_batch", ignore_result=True)
def deliver_batch(message_ids: list[int]) -> None:
    """Send a batch of claimed outbox rows."""
    backend = get_backend()
    for message_id in message_ids:
        service.deliver(message_id, backend=backend)


def nudge() -> None:
    """Ask for a tick now (after a signup) instead of waiting for beat; harmless if it fails."""
    try:
        tick.apply_async(retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker being away must not fail a signup
        log.warning("could not reach the broker to nudge a tick (%s); beat will catch up", exc)
