"""When a visit's reminder goes out: its offset before the visit, kept out of quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.core.config import get_settings


def in_quiet_hours(hour: int) -> bool:
    """Tell whether a local hour falls in the quiet hours (which may wrap past midnight)."""
    s = get_settings()
    start, end = s.quiet_start_hour, s.quiet_end_hour
    return start <= hour or hour < end if start > end else start <= hour < end


def reminder_due(starts_at: datetime, hours: int, tz: ZoneInfo) -> datetime:
    """When an `hours`-before reminder goes out, kept out of quiet hours where it can be.

    A reminder a day or more ahead that would land at night moves to the evening before
    (never later than due); a short one (a 2 h reminder for an 08:00 visit) goes at its time.
    """
    due = starts_at - timedelta(hours=hours)
    local = due.astimezone(tz)
    if hours < 12 or not in_quiet_hours(local.hour):
        return due
    evening_hour = (get_settings().quiet_start_hour - 1) % 24
    day = (
        local.date()
        if local.hour >= get_settings().quiet_start_hour
        else (local.date() - timedelta(days=1))
    )
    evening = datetime(day.year, day.month, day.day, evening_hour, tzinfo=tz)
    return min(evening, due)
