"""The timeline simulator: when each email of a sequence would reach one lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.enrollments.service import due_for
from nurture.sequences.models import SequenceVersion, Step
from nurture.sequences.schedule import add_delay
from nurture.sequences.service import window_of


@dataclass(frozen=True, slots=True)
class PlannedEmail:
    """One email of the simulated timeline."""

    step: Step
    due_at: datetime  # UTC
    local: datetime  # in the lead's zone
    note: str  # why it is not at the plain delay, or ""


def simulate(
    version: SequenceVersion, *, confirmed_at: datetime, tz: ZoneInfo
) -> list[PlannedEmail]:
    """Plan every step as the drip engine would for a lead confirming at `confirmed_at`.

    Each step counts its delay from when the previous one goes, then moves into the
    version's send window and around clinic closures, exactly as delivery plans it. Steps
    with a condition are listed as if the condition holds.
    """
    window = window_of(version)
    timeline: list[PlannedEmail] = []
    after = confirmed_at
    for step in version.steps:
        plain = add_delay(after, days=step.delay_days, minutes=step.delay_minutes, tz=tz)
        due = due_for(step, version=version, tz=tz, after=after)
        note = ""
        if due != plain:
            day = plain.astimezone(tz).date()
            if day in window.closures:
                note = f"the clinic is closed on {day:%d %B}; moved to the next sending time"
            elif not window.allows_day(day):
                note = f"{day:%A} is not a sending day; moved to the next one"
            else:
                note = (
                    f"outside sending hours ({window.start_hour:02d}:00-{window.end_hour:02d}:00);"
                    " moved to the next opening"
                )
        timeline.append(PlannedEmail(step, due, due.astimezone(tz), note))
        after = due
    return timeline
