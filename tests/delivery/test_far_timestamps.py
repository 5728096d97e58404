"""Unix times from SendGrid near the end of the calendar are treated as unreadable, not stored."""

from __future__ import annotations

from nurture.delivery import events
from nurture.delivery.channels.base import utc_from_epoch

# 9999-12-31T23:59:59Z: a time Python can hold, but none the service can compute with.
LAST_SECOND = 253402300799


def test_an_event_stamped_in_year_9999_is_skipped_with_its_reason() -> None:
    item = {"sg_event_id": "e1", "event": "delivered", "email": "a@example.com"}
    skipped = events._check(0, {**item, "timestamp": LAST_SECOND})
    assert isinstance(skipped, events.Skipped)
    assert "timestamp" in skipped.reason
    kept = events._check(0, {**item, "timestamp": 1600112492})
    assert not isinstance(kept, events.Skipped)


def test_a_rate_limit_reset_in_year_9999_is_ignored() -> None:
    assert utc_from_epoch(str(LAST_SECOND)) is None
    assert utc_from_epoch("1600112492") is not None
