"""Run the tick in the test's own process, sending what it claims through the configured backend."""

from __future__ import annotations

from datetime import datetime

from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend


def tick_here(at: datetime) -> list[service.Outcome]:
    """Run one tick at `at` and deliver what it claims here; return the outcomes."""
    outcomes: list[service.Outcome] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: outcomes.extend(service.deliver_batch(ids, backend=get_backend()))
        )
    return outcomes
