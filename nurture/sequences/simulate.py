"""The timeline simulator: when each email of a sequence would reach one person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.enrollments.journeys import journey_start, rebook_after, recall_after
from nurture.enrollments.service import due_for
from nurture.sequences.models import Goal, SequenceVersion, Step, Trigger
from nurture.sequences.schedule import SendWindow, add_delay, window_of

# What the simulator's date and time stand for, per trigger ("a person who ...").
MOMENTS: dict[str, str] = {
    Trigger.SIGNUP: "confirms their signup",
    Trigger.BOOKED: "books a visit",
    Trigger.ATTENDED: "is marked attended at a visit",
    Trigger.NO_SHOW: "is marked as a no-show",
    Trigger.CANCELLED_NOT_REBOOKED: "cancels a visit and books nothing after",
    Trigger.LAPSED: "was last seen then and books nothing after",
}
WAITED_FOR: dict[str, str] = {Goal.BOOKED: "books", Goal.ATTENDED: "attends a visit"}


@dataclass(frozen=True, slots=True)
class PlannedEmail:
    """One email of the simulated timeline."""

    step: Step
    due_at: datetime  # UTC
    local: datetime  # in the lead's zone
    note: str  # why it is not at the plain delay, or ""


class Timeline(list[PlannedEmail]):
    """The planned emails, with what the start moment means and what was assumed."""

    def __init__(self, emails: list[PlannedEmail], *, moment: str, notes: list[str]) -> None:
        super().__init__(emails)
        self.moment = moment
        self.notes = notes


def moment_of(trigger: str) -> str:
    """Say what the simulator's date and time mean for a sequence started by `trigger`."""
    return MOMENTS.get(trigger, MOMENTS[Trigger.SIGNUP])


def _start_note(trigger: str) -> str:
    if trigger == Trigger.CANCELLED_NOT_REBOOKED:
        days = rebook_after().days
        return (
            f"The date is the cancel. The journey starts {days} days later "
            "if nothing was booked; the first email's delay still "
            "counts from the cancel, and an email already due then goes at that moment."
        )
    if trigger == Trigger.LAPSED:
        days = recall_after().days
        return (
            f"The date is the last visit. The journey starts {days} days later "
            "if nothing is booked by then, and the first email "
            "counts its delay from that moment."
        )
    return f"The date is when the person {moment_of(trigger)}; the first email counts from it."


def _inside(window: SendWindow, local: datetime) -> bool:
    """Tell whether a local time is inside the send window, on a sending day."""
    day = local.date()
    in_hours = window.start_hour * 60 <= local.hour * 60 + local.minute < window.end_hour * 60
    return in_hours and window.allows_day(day)


def simulate(version: SequenceVersion, *, confirmed_at: datetime, tz: ZoneInfo) -> Timeline:
    """Plan every step as the engine would for a person whose trigger event is at `confirmed_at`.

    For a signup sequence that is the confirmation; for the others the visit event, the cancel
    or the last visit, started exactly as the journey engine starts them. Each step counts its
    delay from when the previous one goes, then moves into the version's send window and
    around clinic closures, exactly as delivery plans it. Steps with a condition are listed as
    if the condition holds, and steps that wait for an event as if it never comes.
    """
    window = window_of(version)
    started, after = journey_start(version.trigger, confirmed_at)
    notes = [_start_note(version.trigger)]
    timeline: list[PlannedEmail] = []
    for step in version.steps:
        note = ""
        if step.wait_until is not None:
            days = step.wait_at_most_days or 0
            event = WAITED_FOR.get(step.wait_until, step.wait_until)
            due = due_for(step, version=version, tz=tz, after=after)
            note = f"waits up to {days} days for the person to {event}; shown as if they never do"
        else:
            plain = add_delay(after, days=step.delay_days, minutes=step.delay_minutes, tz=tz)
            due = due_for(step, version=version, tz=tz, after=after)
            if due != plain:
                day = plain.astimezone(tz).date()
                if day in window.closures:
                    note = f"the clinic is closed on {day:%d %B}; moved to the next sending time"
                elif not window.allows_day(day):
                    note = f"{day:%A} is not a sending day; moved to the next one"
                else:
                    note = (
                        f"outside sending hours ({window.start_hour:02d}:00 to "
                        f"{window.end_hour:02d}:00); moved to the next opening"
                    )
            elif not _inside(window, due.astimezone(tz)):
                # Delivery sends the first email at once when it has no delay of its own.
                note = (
                    f"goes at once, even outside sending hours ({window.start_hour:02d}:00 to "
                    f"{window.end_hour:02d}:00) and on any day: a first email with no delay "
                    "answers what the person has just done"
                )
        if due < started:
            # Planned in the past when the journey starts: the next tick sends it at once.
            due = started
            note = "already due when the journey starts; goes at once"
        if step.variants:
            arms = ", ".join(v.key for v in step.variants)
            test = f"an A/B test of {len(step.variants)} variants ({arms}): one each, at random"
            note = f"{note}; {test}" if note else test
        timeline.append(PlannedEmail(step, due, due.astimezone(tz), note))
        after = due
    if any(s.wait_until is not None for s in version.steps):
        notes.append(
            "Steps that wait for an event are shown at their time-out, as if the event never "
            "happens; when it does, the step is skipped."
        )
    return Timeline(timeline, moment=moment_of(version.trigger), notes=notes)
