"""Rate limits (signups per network, address and check-inbox page; studio sign-ins per
client), shared through Redis when it is the broker (each process keeps its own counts on the
embedded default).

A client is its network: an IPv4 address, or the /64 of an IPv6 address, since one household
or office is given a whole /64 and can pick a new address in it for every request. Behind a
reverse proxy the client address is the proxy's unless uvicorn trusts it to say who the client
was (FORWARDED_ALLOW_IPS); otherwise every visitor shares one network's limits.

Redis being away never fails a request: the counts move to this process (the `limits` memory
store) for a short while, then Redis is tried again.
"""

from __future__ import annotations

import hashlib
import ipaddress
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


def network(ip: str) -> str:
    """Return the network a client address counts as: IPv4 as is, IPv6 as its /64."""
    try:
        address = ipaddress.ip_address(ip.split("%")[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return ip  # not an address (a test client's name): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]  # no addresses in Redis keys


def allow_signup(*, ip: str | None, email: str, ticket: str | None = None) -> int | None:
    """Count a signup or resent link; return None if allowed, else seconds until retry.

    Counted per network (a burst and a daily cap), per address, and per check-inbox ticket
    (`ticket` names the first signup a chain of corrections came from) when there is one.
    """
    settings = get_settings()
    checks: list[tuple[RateLimitItem, str]] = []
    if ip:
        net = network(ip)
        checks += [
            (parse(settings.signup_rate_per_ip), f"signup-ip:{net}"),
            (parse(settings.signup_rate_per_network_daily), f"signup-net-day:{net}"),
        ]
    checks.append((parse(settings.signup_rate_per_address), f"signup-address:{_digest(email)}"))
    if ticket:
        checks.append((parse(settings.signup_rate_per_ticket_daily), f"signup-ticket:{ticket}"))
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
