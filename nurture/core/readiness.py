"""What readiness is made of: the broker answers and beat's tick is recent.

The web's `/readyz`, `nurture doctor` and the container health checks all judge by these.
"""

from __future__ import annotations

import os
from datetime import datetime

from nurture.core.config import Settings

BROKER_TIMEOUT_SECONDS = 2.0


def tick_age(last: datetime | None, now: datetime) -> float | None:
    """Seconds since beat's last tick, or None when it never ticked."""
    return (now - last).total_seconds() if last is not None else None


def tick_is_fresh(age: float | None, settings: Settings) -> bool:
    """Tell whether the last tick ran within three intervals (and a few seconds' slack)."""
    return age is not None and age <= 3 * settings.tick_seconds + 5


def broker_answers(settings: Settings) -> bool:
    """Tell whether the broker takes work: Redis answers PING, or the broker folder is there."""
    url = settings.resolved_broker_url
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(
            url,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
    # The filesystem transport: its folder (made by the first worker, beat or dispatch) or the
    # data directory it will be made in.
    folder = settings.broker_folder
    probe = folder if folder.exists() else settings.data_dir.resolve()
    return probe.is_dir() and os.access(probe, os.W_OK)
