"""Delays in local time across daylight saving, and send windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from nurture.sequences.schedule import SendWindow, add_delay, next_opening

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_day_delays_keep_the_local_hour_across_spring_forward() -> None:
    # 10:00 in Berlin on Saturday 28 March 2026 (UTC+1); clocks go forward on the 29th.
    start = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    due = add_delay(start, days=2, minutes=0, tz=BERLIN)
    assert due.astimezone(BERLIN).hour == 10
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # now UTC+2


def test_day_delays_keep_the_local_hour_across_fall_back() -> None:
    start = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)  # 10:00 EDT
    due = add_delay(start, days=1, minutes=0, tz=NEW_YORK)
    assert due.astimezone(NEW_YORK).hour == 10
    assert due == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 10:00 EST


def test_wall_time_in_the_spring_forward_gap_moves_on() -> None:
    # 02:30 on 8 March 2026 does not exist in New York; it resolves to 03:30 EDT.
    start = datetime(2026, 3, 7, 7, 30, tzinfo=UTC)  # 02:30 EST on the 7th
    due = add_delay(start, days=1, minutes=0, tz=NEW_YORK)
    assert due == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).hour == 3


def test_minutes_are_elapsed_time() -> None:
    start = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST, just before the jump
    due = add_delay(start, days=0, minutes=60, tz=NEW_YORK)
    assert due == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # inside the window: unchanged
        (datetime(2026, 6, 3, 10, 0, tzinfo=UTC), datetime(2026, 6, 3, 10, 0, tzinfo=UTC)),
        # 06:00 Berlin -> 09:00 the same day
        (datetime(2026, 6, 3, 4, 0, tzinfo=UTC), datetime(2026, 6, 3, 7, 0, tzinfo=UTC)),
        # 20:00 Berlin -> 09:00 next day
        (datetime(2026, 6, 3, 18, 0, tzinfo=UTC), datetime(2026, 6, 4, 7, 0, tzinfo=UTC)),
    ],
)
def test_next_opening_within_hours(moment: datetime, expected: datetime) -> None:
    assert next_opening(moment, tz=BERLIN, window=SendWindow()) == expected


def test_weekdays_and_closures_are_skipped() -> None:
    window = SendWindow(weekdays=frozenset({1, 2, 3, 4, 5}), closures=frozenset({date(2026, 6, 8)}))
    saturday = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
    # Sunday skipped, Monday 8 June closed -> Tuesday 09:00 Berlin.
    assert next_opening(saturday, tz=BERLIN, window=window) == datetime(
        2026, 6, 9, 7, 0, tzinfo=UTC
    )


def test_a_window_that_never_opens_is_an_error() -> None:
    with pytest.raises(ValueError, match="never opens"):
        next_opening(
            datetime(2026, 6, 6, tzinfo=UTC), tz=BERLIN, window=SendWindow(weekdays=frozenset())
        )
