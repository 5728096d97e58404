"""Rate limits (signups per client and per email, studio sign-ins per client), shared through
Redis when it is the broker (each process keeps its own counts on the embedded default).

Redis being away never fails a request: the counts move to this process (the `limits` memory
store) for a short while, then Redis is tried again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from nurture.core.config import get_settings

log = logging.getLogger(__name__)

LOCAL = "memory://"
# After Redis failed to answer, counts stay local this long before Redis is tried again.
FALLBACK_SECONDS = 30.0

_LIMITERS: dict[str, tuple[MovingWindowRateLimiter, Storage]] = {}
_away_until: dict[str, float] = {}


def _limiter(storage_url: str) -> tuple[MovingWindowRateLimiter, Storage]:
    if storage_url not in _LIMITERS:
        options: dict[str, Any] = {}
        if storage_url != LOCAL:
            # One quick try: a request must not wait seconds for a store that is away.
            wait = get_settings().redis_timeout_seconds
            options = {
                "socket_connect_timeout": wait,
                "socket_timeout": wait,
                "retry": Retry(NoBackoff(), 0),
                "wrap_exceptions": True,
            }
        storage = storage_from_string(storage_url, **options)
        assert isinstance(storage, Storage)  # the synchronous storage, not limits.aio
        _LIMITERS[storage_url] = (MovingWindowRateLimiter(storage), storage)
    return _LIMITERS[storage_url]


def allow_signup(*, ip: str | None, email: str) -> int | None:
    """Count a signup; return None if allowed, else seconds until the client may retry."""
    settings = get_settings()
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in Redis keys
    checks: list[tuple[RateLimitItem, str]] = [
        (parse(settings.signup_rate_per_address), f"signup-address:{digest}")
    ]
    if ip:
        checks.insert(0, (parse(settings.signup_rate_per_ip), f"signup-ip:{ip}"))
    for item, key in checks:
        wait = _hit(item, key)
        if wait is not None:
            return wait
    return None


def allow(rate: str, key: str) -> int | None:
    """Count one attempt at `rate` for `key`; return None if allowed, else seconds to wait."""
    return _hit(parse(rate), key)


def _hit(item: RateLimitItem, key: str) -> int | None:
    url = get_settings().shared_counter_url
    if url != LOCAL and _away_until.get(url, 0.0) <= time.monotonic():
        try:
            return _count(_limiter(url)[0], item, key)
        except StorageError as exc:
            _away_until[url] = time.monotonic() + FALLBACK_SECONDS
            log.warning(
                "rate limits: Redis did not answer (%s); counting in this process for %.0f s",
                type(exc.storage_error).__name__,
                FALLBACK_SECONDS,
            )
    return _count(_limiter(LOCAL)[0], item, key)


def _count(limiter: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> int | None:
    if limiter.hit(item, key):
        return None
    stats = limiter.get_window_stats(item, key)
    return max(int(stats.reset_time - time.time()) + 1, 1)


def reset() -> None:
    """Forget all counts in every store this process has used, and any outage (tests)."""
    _away_until.clear()
    for url, (_, storage) in list(_LIMITERS.items()):
        try:
            storage.reset()
        except StorageError:
            del _LIMITERS[url]  # a store that was away: made afresh when next used
