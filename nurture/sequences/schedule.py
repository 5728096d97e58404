"""When a step falls due: delays in the lead's local time, then the sequence's send window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from nurture.core.config import get_settings
from nurture.locations import service as locations

if TYPE_CHECKING:
    from nurture.sequences.models import SequenceVersion


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Allowed local hours [start, end) on allowed ISO weekdays, minus closure dates."""

    start_hour: int = 9
    end_hour: int = 19
    weekdays: frozenset[int] = frozenset(range(1, 8))
    closures: frozenset[date] = field(default_factory=frozenset)

    def allows_day(self, day: date) -> bool:
        """Tell whether email may go out at all on local `day`."""
        return day.isoweekday() in self.weekdays and day not in self.closures


def in_quiet_hours(hour: int) -> bool:
    """Tell whether a local hour falls in the quiet hours (which may wrap past midnight)."""
    s = get_settings()
    start, end = s.quiet_start_hour, s.quiet_end_hour
    return start <= hour or hour < end if start > end else start <= hour < end


def add_delay(base: datetime, *, days: int, minutes: int, tz: ZoneInfo) -> datetime:
    """Add a delay; whole days keep the local wall-clock hour across daylight-saving changes."""
    wall = base.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
    # A wall time that falls in a spring-forward gap resolves to the same instant an hour on.
    moved = wall.replace(tzinfo=tz).astimezone(UTC)
    return moved + timedelta(minutes=minutes)


def next_opening(moment: datetime, *, tz: ZoneInfo, window: SendWindow) -> datetime:
    """Return the earliest instant at or after `moment` that lies inside the window."""
    local = moment.astimezone(tz)
    day = local.date()
    for offset in range(0, 400):
        candidate_day = day + timedelta(days=offset)
        if not window.allows_day(candidate_day):
            continue
        midnight = datetime.combine(candidate_day, time(0))  # local wall clock, no zone yet
        opens = (midnight + timedelta(hours=window.start_hour)).replace(tzinfo=tz).astimezone(UTC)
        closes = (midnight + timedelta(hours=window.end_hour)).replace(tzinfo=tz).astimezone(UTC)
        if offset == 0:
            if moment < opens:
                return opens
            if moment < closes:
                return moment.astimezone(UTC)
            continue
        return opens
    raise ValueError("the send window never opens (no allowed weekday outside closures)")


def window_of(version: SequenceVersion, *, location_key: str | None = None) -> SendWindow:
    """Return the send window a version declares, closed on the lead's site's closures."""
    return SendWindow(
        start_hour=version.window_start_hour,
        end_hour=version.window_end_hour,
        weekdays=frozenset(int(d) for d in version.window_weekdays),
        closures=frozenset(locations.site(location_key).closures),
    )
