"""Provider webhook bodies that Python's JSON reader refuses are a bad batch, never a crash."""

from __future__ import annotations

import pytest

from nurture.delivery import events


def test_an_integer_of_thousands_of_digits_is_a_batch_error() -> None:
    with pytest.raises(events.BatchError, match="not JSON"):
        events.parse_batch(
            '[{"sg_event_id": "e1", "event": "open", "timestamp": ' + "9" * 5000 + "}]"
        )


def test_arrays_nested_thousands_deep_are_a_batch_error() -> None:
    with pytest.raises(events.BatchError, match="not JSON"):
        events.parse_batch("[" * 5000 + "]" * 5000)
