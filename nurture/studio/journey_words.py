"""What starts a sequence, what ends it and who may start it again, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from nurture.enrollments.journeys import rebook_after, recall_after
from nurture.sequences.models import Goal, Reentry, SequenceVersion, Trigger

NO_GOAL = "none"  # the goal form's value for `goal: []`


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a journey form: the value posted, its name and what it means."""

    value: str
    label: str
    hint: str


def trigger_choices(audience: str) -> list[Choice]:
    """Return the events that can start a sequence, as options of the trigger form."""
    return [
        Choice(
            Trigger.SIGNUP,
            "When they confirm their signup",
            f"People who sign up as {audience}, once they confirm their email.",
        ),
        Choice(Trigger.BOOKED, "When they book a visit", "Each time a visit is booked for them."),
        Choice(Trigger.ATTENDED, "When they come to a visit", "When a visit is marked attended."),
        Choice(Trigger.NO_SHOW, "When they miss a visit", "When a visit is marked as a no-show."),
        Choice(
            Trigger.CANCELLED_NOT_REBOOKED,
            "When they cancel and do not rebook",
            f"A visit was cancelled and nothing new was booked within {rebook_after().days} days.",
        ),
        Choice(
            Trigger.LAPSED,
            "When they have not been back for a while",
            f"No visit for {recall_after().days} days and nothing booked, once each time.",
        ),
    ]


GOAL_CHOICES = [
    Choice(
        Goal.BOOKED,
        "Stop when they book a visit",
        "The usual: the emails are there to get a booking, so the rest are not sent once "
        "one is made.",
    ),
    Choice(
        Goal.ATTENDED,
        "Stop when they come to a visit",
        "Keeps going after a booking (reminders before the visit) and stops once a visit is "
        "marked attended.",
    ),
    Choice(
        f"{Goal.ATTENDED},{Goal.BOOKED}",
        "Stop when they book or come to a visit",
        "Whichever happens first.",
    ),
    Choice(NO_GOAL, "Keep going to the last email", "Nothing they book or attend ends it early."),
]

REENTRY_CHOICES = [
    Choice(
        Reentry.ALWAYS,
        "Can enter again after finishing",
        "If what starts it happens again, it starts again, as long as they are not in it now.",
    ),
    Choice(
        Reentry.NEVER,
        "Only once per person",
        "Someone who has been through it, or left it early, never starts it again.",
    ),
    Choice(
        Reentry.AFTER,
        "Can enter again after a pause",
        "Only once the number of days below has passed since they last started it.",
    ),
]


def goal_value(goals: list[str]) -> str:
    """Return the goal form's value for a version's goals."""
    return ",".join(sorted(goals)) or NO_GOAL


def goals_of(value: str) -> list[str] | None:
    """Return the goals a goal form value stands for, or None if it is not one of the options."""
    if value not in {c.value for c in GOAL_CHOICES}:
        return None
    return [] if value == NO_GOAL else value.split(",")


@dataclass(frozen=True, slots=True)
class Journey:
    """A version's trigger, goal and re-entry rule as sentences for a page."""

    starts: str
    ends: str
    again: str


def describe(version: SequenceVersion) -> Journey:
    """Say in words what starts `version`, what ends it early and who may start it again."""
    audience = version.sequence.audience
    starts = {c.value: c.label for c in trigger_choices(audience)}
    ends = {c.value: c.label for c in GOAL_CHOICES}
    again = {c.value: c.label for c in REENTRY_CHOICES}
    if version.reentry == Reentry.AFTER:
        days = version.reentry_after_days
        again_text = f"Can enter again {days} days after they last started it"
    else:
        again_text = again.get(version.reentry, version.reentry)
    return Journey(
        starts=starts.get(version.trigger, version.trigger),
        ends=ends.get(goal_value(list(version.goals)), ", ".join(version.goals)),
        again=again_text,
    )
