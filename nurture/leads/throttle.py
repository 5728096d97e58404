"""Rate limits (signups per client and per email, studio sign-ins per client), shared through
Redis when it is the broker (each process keeps its own counts on the embedded default)."""

from __future__ import annotations

import hashlib
import time

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from nurture.core.config import get_settings

_LIMITERS: dict[str, tuple[MovingWindowRateLimiter, Storage]] = {}


def _limiter(storage_url: str) -> tuple[MovingWindowRateLimiter, Storage]:
    if storage_url not in _LIMITERS:
        storage = storage_from_string(storage_url)
        assert isinstance(storage, Storage)  # the synchronous storage, not limits.aio
        _LIMITERS[storage_url] = (MovingWindowRateLimiter(storage), storage)
    return _LIMITERS[storage_url]


def allow_signup(*, ip: str | None, email: str) -> int | None:
    """Count a signup; return None if allowed, else seconds until the client may retry."""
    settings = get_settings()
    limiter, _ = _limiter(settings.shared_counter_url)
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in Redis keys
    checks: list[tuple[RateLimitItem, str]] = [
        (parse(settings.signup_rate_per_address), f"signup-address:{digest}")
    ]
    if ip:
        checks.insert(0, (parse(settings.signup_rate_per_ip), f"signup-ip:{ip}"))
    for item, key in checks:
        wait = _hit(limiter, item, key)
        if wait is not None:
            return wait
    return None


def allow(rate: str, key: str) -> int | None:
    """Count one attempt at `rate` for `key`; return None if allowed, else seconds to wait."""
    limiter, _ = _limiter(get_settings().shared_counter_url)
    return _hit(limiter, parse(rate), key)


def _hit(limiter: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> int | None:
    if limiter.hit(item, key):
        return None
    stats = limiter.get_window_stats(item, key)
    return max(int(stats.reset_time - time.time()) + 1, 1)


def reset() -> None:
    """Forget all counts in every store this process has used (tests)."""
    for _, storage in _LIMITERS.values():
        storage.reset()
