"""A per-account send rate shared by every worker (through Redis when the broker is Redis)."""

from __future__ import annotations

import time
from functools import lru_cache

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from nurture.core.config import get_settings


class SendRateLimiter:
    """Blocks until `count` sends fit in the account's per-second limit."""

    def __init__(
        self, per_second: int, storage_url: str, *, key: str = "sendgrid-mail-send"
    ) -> None:
        self.key = key
        self.item = RateLimitItemPerSecond(per_second)
        self.per_second = per_second
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def acquire(self, count: int = 1) -> None:
        """Take `count` send slots, waiting for the window to move as needed."""
        remaining = count
        while remaining > 0:
            take = min(remaining, self.per_second)
            if self.limiter.hit(self.item, self.key, cost=take):
                remaining -= take
                continue
            stats = self.limiter.get_window_stats(self.item, self.key)
            time.sleep(min(max(stats.reset_time - time.time(), 0.005), 1.0))


@lru_cache(maxsize=1)
def get_limiter() -> SendRateLimiter | None:
    """Return the configured limiter, or None when NURTURE_SEND_RATE_PER_SECOND is 0."""
    settings = get_settings()
    if settings.send_rate_per_second <= 0:
        return None
    return SendRateLimiter(settings.send_rate_per_second, settings.shared_counter_url)


@lru_cache(maxsize=1)
def get_text_limiter() -> SendRateLimiter | None:
    """Return the texts' limiter per sender, or None when NURTURE_SMS_RATE_PER_SECOND is 0."""
    settings = get_settings()
    if settings.sms_rate_per_second <= 0:
        return None
    sender = settings.twilio_from or "outbox"
    return SendRateLimiter(
        settings.sms_rate_per_second, settings.shared_counter_url, key=f"twilio-sms:{sender}"
    )
