"""Editing a sequence's draft version in the studio, and what publishing it would do."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.outbox.models import Message, MessageStatus
from nurture.rendering.markdown import markdown_template
from nurture.sequences import translations, variants
from nurture.sequences.export import dump_spec
from nurture.sequences.files import ReentrySpec, SequenceSpec, StepSpec, WindowSpec
from nurture.sequences.models import (
    Reentry,
    Sequence,
    SequenceVersion,
    Step,
    Trigger,
    VersionState,
)
from nurture.sequences.service import create_draft, live_version, spec_of

# What a new step starts with: Markdown, so no one has to write HTML to send an email.
NEW_STEP_MARKDOWN = (
    "# Hello{% if first_name %} {{ first_name }}{% endif %}\n\n"
    "Write the email here.\n\n"
    "[[button: Book an assessment | {{ booking_url }}]]\n"
)


def starter_spec(*, slug: str, name: str, audience: str) -> SequenceSpec:
    """A new sequence with one step of starter content (validated like a sequence file)."""
    return SequenceSpec.model_validate(
        {
            "slug": slug,
            "name": name,
            "audience": audience,
            "steps": [{"key": "welcome", "subject": "Welcome", "markdown": NEW_STEP_MARKDOWN}],
        }
    )


def draft_of(session: Session, sequence: Sequence) -> SequenceVersion | None:
    """Return the sequence's draft, if one is being edited."""
    return session.scalar(
        select(SequenceVersion)
        .where(
            SequenceVersion.sequence_id == sequence.id,
            SequenceVersion.state == VersionState.DRAFT,
        )
        .order_by(SequenceVersion.number.desc())
        .limit(1)
    )


def ensure_draft(session: Session, sequence: Sequence) -> SequenceVersion:
    """Return the draft, starting one as a copy of the live version when there is none."""
    draft = draft_of(session, sequence)
    if draft is not None:
        return draft
    live = live_version(session, sequence.id)
    if live is None:
        raise ValueError(f"sequence {sequence.slug} has no version to copy")
    return create_draft(session, spec=spec_of(live))


def _renumber(session: Session, version: SequenceVersion, steps: list[Step]) -> None:
    # Positions are unique per version, so park them out of the way before the final order.
    for i, step in enumerate(steps, start=1):
        step.position = -i
    session.flush()
    for i, step in enumerate(steps, start=1):
        step.position = i
    session.flush()
    session.expire(version, ["steps"])


def add_step(session: Session, version: SequenceVersion) -> Step:
    """Append a new step with starter content and a unique key."""
    keys = {s.key for s in version.steps}
    n = len(version.steps) + 1
    while f"step-{n}" in keys:
        n += 1
    step = Step(
        version_id=version.id,
        position=len(version.steps) + 1,
        key=f"step-{n}",
        delay_days=2,
        subject="A new email",
        preheader="",
        body_markdown=NEW_STEP_MARKDOWN,
        body_html=markdown_template(NEW_STEP_MARKDOWN),
        body_text=None,
    )
    session.add(step)
    session.flush()
    session.expire(version, ["steps"])
    return step


def move_step(session: Session, version: SequenceVersion, step: Step, offset: int) -> None:
    """Move a step up (-1) or down (+1)."""
    steps = list(version.steps)
    i = steps.index(step)
    j = max(0, min(len(steps) - 1, i + offset))
    steps.insert(j, steps.pop(i))
    _renumber(session, version, steps)


def remove_step(session: Session, version: SequenceVersion, step: Step) -> None:
    """Delete a step; a sequence keeps at least one."""
    steps = list(version.steps)
    if len(steps) == 1:
        raise ValueError("a sequence needs at least one step")
    steps.remove(step)
    session.delete(step)
    session.flush()
    _renumber(session, version, steps)


# Every column a step is made of, so an undo puts back exactly what was removed.
STEP_FIELDS = (
    "position",
    "key",
    "kind",
    "delay_days",
    "delay_minutes",
    "subject",
    "preheader",
    "body_markdown",
    "body_html",
    "body_text",
    "condition",
    "wait_until",
    "wait_at_most_days",
    "translations",
)


def step_snapshot(step: Step) -> dict[str, Any]:
    """Return everything needed to put a removed step back (kept in its audit entry)."""
    found = {name: getattr(step, name) for name in STEP_FIELDS}
    if step.variants:
        found["variants"] = variants.snapshot(step)
    return found


def restore_step(session: Session, version: SequenceVersion, snapshot: dict[str, Any]) -> Step:
    """Put a removed step back into the draft at its old place, with its variants."""
    arms = snapshot.get("variants") or []
    columns = {k: v for k, v in snapshot.items() if k != "variants"}
    columns.setdefault("translations", None)  # kept before steps had translations
    if set(columns) != set(STEP_FIELDS) or not isinstance(arms, list):
        raise ValueError("that change cannot be undone")
    if any(s.key == snapshot["key"] for s in version.steps):
        raise ValueError(f"the draft already has a step called '{snapshot['key']}'")
    steps = list(version.steps)
    step = Step(version_id=version.id, **(columns | {"position": len(steps) + 1}))
    variants.restore(step, arms)
    session.add(step)
    session.flush()
    steps.insert(max(0, min(len(steps), int(snapshot["position"]) - 1)), step)
    _renumber(session, version, steps)
    return step


def update_step(step: Step, spec: StepSpec) -> None:
    """Write validated content into a draft step; its variants are written only if given.

    The step editor saves the step's own fields and leaves its test alone (each variant has
    its own form); a spec that lists variants, as a file does, replaces them.
    """
    step.key = spec.key
    step.kind = spec.kind
    step.delay_days = spec.delay_days
    step.delay_minutes = spec.delay_minutes
    step.condition = spec.condition
    step.subject = spec.subject
    step.preheader = spec.preheader
    step.body_markdown = spec.markdown
    step.body_html = spec.body_html
    step.body_text = spec.text
    if spec.translations is not None:
        step.translations = translations.stored(spec.translations)
    if spec.variants is not None:
        variants.replace(step, variants.variants_of(spec))


def set_window(version: SequenceVersion, window: WindowSpec) -> None:
    """Change a draft's send window."""
    version.window_start_hour = window.start_hour
    version.window_end_hour = window.end_hour
    version.window_weekdays = "".join(str(d) for d in sorted(set(window.weekdays)))


def set_journey(version: SequenceVersion, spec: SequenceSpec) -> None:
    """Write a validated spec's trigger, goals and re-entry rule into a draft."""
    version.trigger = spec.trigger or Trigger.SIGNUP
    version.goals = list(spec.goals)
    if isinstance(spec.reentry, ReentrySpec):
        version.reentry, version.reentry_after_days = Reentry.AFTER, spec.reentry.after_days
    else:
        version.reentry, version.reentry_after_days = spec.reentry or Reentry.ALWAYS, None


def replace_with(session: Session, sequence: Sequence, spec: SequenceSpec) -> SequenceVersion:
    """Make an imported file the draft (any earlier draft is dropped)."""
    if spec.slug != sequence.slug:
        raise ValueError(f"the file is for sequence '{spec.slug}', not '{sequence.slug}'")
    old = draft_of(session, sequence)
    if old is not None:
        session.delete(old)
        session.flush()
    return create_draft(session, spec=spec)


def diff(session: Session, draft: SequenceVersion) -> list[str]:
    """Lines of a unified diff from the live version's file to the draft's."""
    live = live_version(session, draft.sequence_id)
    before = dump_spec(spec_of(live)).splitlines() if live else []
    after = dump_spec(spec_of(draft)).splitlines()
    label = f"version {live.number} (live)" if live else "nothing"
    return list(
        difflib.unified_diff(
            before, after, fromfile=label, tofile=f"version {draft.number} (draft)", lineterm=""
        )
    )


@dataclass(frozen=True, slots=True)
class Waiting:
    """People already in the sequence whose next email is one step of one version."""

    version: int
    position: int
    key: str
    subject: str
    people: int
    first_due: datetime
    last_due: datetime
    in_draft: bool  # the draft has a step with this key, so they could move to it


@dataclass(frozen=True, slots=True)
class Impact:
    """What publishing a draft means for people already in the sequence."""

    active: int
    waiting: list[Waiting]
    not_waiting: int  # active, with no email pending (one is being sent, or failed or unknown)


def impact(session: Session, draft: SequenceVersion) -> Impact:
    """Count active enrollments by their next email, per version."""
    sequence_id = draft.sequence_id
    active = int(
        session.scalar(
            select(func.count(Enrollment.id)).where(
                Enrollment.sequence_id == sequence_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
        or 0
    )
    rows = session.execute(
        select(
            SequenceVersion.number,
            Step.position,
            Step.key,
            Step.subject,
            func.count(Message.id),
            func.min(Message.due_at),
            func.max(Message.due_at),
        )
        .join(Enrollment, Enrollment.id == Message.enrollment_id)
        .join(Step, Step.id == Message.step_id)
        .join(SequenceVersion, SequenceVersion.id == Step.version_id)
        .where(
            Enrollment.sequence_id == sequence_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
            Message.status == MessageStatus.PENDING,
        )
        .group_by(SequenceVersion.number, Step.position, Step.key, Step.subject)
        .order_by(SequenceVersion.number, Step.position)
    ).all()
    draft_keys = {s.key for s in draft.steps}
    waiting = [
        Waiting(int(v), int(p), str(k), str(subj), int(n), first, last, str(k) in draft_keys)
        for v, p, k, subj, n, first, last in rows
    ]
    return Impact(active, waiting, max(0, active - sum(w.people for w in waiting)))
