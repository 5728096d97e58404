"""NURTURE_SMS_RATE_PER_SECOND: texts wait for their own per-sender limit, shared by every
worker through Redis (as the email limit is). Only lower bounds on time are asserted: a limit
of N per second cannot let more through, however slow the machine."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta

import pytest

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend, get_text_backend
from nurture.delivery.ratelimit import get_text_limiter
from tests.texts.helpers import NOW, booking


@pytest.fixture
def sender(settings, twilio) -> str:  # type: ignore[no-untyped-def]
    """A sender of this test's own, so no other test's texts share its counter."""
    number = f"+1555{secrets.randbelow(10**7):07d}"
    settings(twilio_from=number, sms_rate_per_second="1")
    get_text_limiter.cache_clear()
    yield number
    get_text_limiter.cache_clear()


def test_texts_keep_to_the_senders_rate(api, session, twilio, sender):
    for i in range(3):
        body = booking(external_id=f"r{i}", email=f"r{i}@example.com", phone=f"+491511234567{i}")
        assert api("POST", "/api/appointments", json=body).status_code == 201
    limiter = get_text_limiter()
    assert limiter is not None
    assert limiter.key == f"twilio-sms:{sender}"
    claimed: list[int] = []
    with clock.frozen_at(NOW + timedelta(seconds=1)):
        service.tick(dispatch=claimed.extend)
        started = time.monotonic()
        outcomes = service.deliver_batch(
            claimed, backend=get_backend(), texts=get_text_backend(), text_limiter=limiter
        )
    elapsed = time.monotonic() - started
    assert sum(o.status == "sent" for o in outcomes) == 6  # three emails, three texts
    assert len(twilio.state.accepted) == 3
    # One text a second: the third cannot leave before two seconds have passed.
    assert elapsed >= 1.9


def test_every_worker_shares_the_senders_count(sender):
    if not get_settings().shared_counter_url.startswith("redis"):
        pytest.skip("counters are shared between workers through Redis")
    first = get_text_limiter()
    get_text_limiter.cache_clear()
    second = get_text_limiter()  # another worker's own limiter, same sender
    assert first is not None
    assert second is not None
    assert first is not second

    def take(limiter) -> None:  # type: ignore[no-untyped-def]
        limiter.acquire(1)

    started = time.monotonic()
    workers = [threading.Thread(target=take, args=(x,)) for x in (first, second, first)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    # Three texts at one a second between two workers: the last waits two seconds at least.
    assert time.monotonic() - started >= 1.9
