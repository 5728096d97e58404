"""How long and how often an email that fails for a passing reason is tried again.

The retry is the row's next due time, picked up by the tick; nothing waits in the broker.
"""

from __future__ import annotations

import random
from datetime import timedelta

from nurture.core.config import Settings
from nurture.delivery.models import Message, Stream
from nurture.delivery.outbox import REMINDER_TEMPLATES

# Transient failures back off from a minute, doubling to an hour, for as long as the email's
# retry window lasts; mail servers retry for days too.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - not crypto


def retry_window(message: Message, settings: Settings) -> timedelta | None:
    """How long a failing email is retried from its first failure; None: until its visit.

    A reminder is worth sending until its visit starts (the tick then settles it as stale); a
    confirmation or notice for two days; marketing mail for three (both are settings).
    """
    if message.template in REMINDER_TEMPLATES:
        return None
    if message.stream == Stream.MARKETING:
        return timedelta(hours=settings.retry_marketing_hours)
    return timedelta(hours=settings.retry_transactional_hours)


def gave_up(attempts: int, tried_for: timedelta, error: Exception) -> str:
    """Say, in words staff read, why an email was given up after its window."""
    return (
        f"not sent: tried {attempts} times over {_span(tried_for)} and the email service "
        f"never took it; its last answer: {error}"
    )[:2000]


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(round(delta.total_seconds() / 60), 1)} minutes"
    if hours < 48:
        return f"{round(hours)} hours"
    return f"{round(hours / 24)} days"
