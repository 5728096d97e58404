"""Load sequences from files, and find the live version for an audience."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.core import clock
from nurture.sequences import translations, variants
from nurture.sequences.files import (
    ReentrySpec,
    SequenceSpec,
    read_sequence_file,
    sequence_files,
)
from nurture.sequences.models import Reentry, Sequence, SequenceVersion, Step, VersionState


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading one sequence file did."""

    slug: str
    version: int
    changed: bool


def live_version(session: Session, sequence_id: int) -> SequenceVersion | None:
    """Return the newest published version of a sequence."""
    return session.scalar(
        select(SequenceVersion)
        .where(
            SequenceVersion.sequence_id == sequence_id,
            SequenceVersion.state == VersionState.PUBLISHED,
        )
        .order_by(SequenceVersion.number.desc())
        .limit(1)
    )


def live_for_trigger(session: Session, trigger: str) -> list[SequenceVersion]:
    """Return the live version of every sequence that `trigger` starts."""
    newest = (
        select(SequenceVersion.sequence_id, func.max(SequenceVersion.number).label("number"))
        .where(SequenceVersion.state == VersionState.PUBLISHED)
        .group_by(SequenceVersion.sequence_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(SequenceVersion)
            .join(
                newest,
                (newest.c.sequence_id == SequenceVersion.sequence_id)
                & (newest.c.number == SequenceVersion.number),
            )
            .where(SequenceVersion.trigger == trigger)
            .order_by(SequenceVersion.sequence_id)
        )
    )


def sequence_for_audience(session: Session, audience: str) -> Sequence | None:
    """Return the sequence that targets `audience` (the oldest, if several do)."""
    return session.scalar(
        select(Sequence).where(Sequence.audience == audience).order_by(Sequence.id).limit(1)
    )


def _reentry_of(version: SequenceVersion) -> object:
    if version.reentry == Reentry.AFTER:
        return {"after_days": version.reentry_after_days}
    return version.reentry


def spec_of(version: SequenceVersion) -> SequenceSpec:
    """Describe a stored version in the file format (for comparison and export)."""
    seq = version.sequence
    return SequenceSpec.model_validate(
        {
            "slug": seq.slug,
            "name": seq.name,
            "audience": seq.audience,
            "trigger": version.trigger,
            "goal": list(version.goals),
            "reentry": _reentry_of(version),
            "window": {
                "start_hour": version.window_start_hour,
                "end_hour": version.window_end_hour,
                "weekdays": [int(d) for d in version.window_weekdays],
            },
            "steps": [
                {
                    "key": s.key,
                    "kind": s.kind,
                    "delay_days": s.delay_days,
                    "delay_minutes": s.delay_minutes,
                    "subject": s.subject,
                    "preheader": s.preheader,
                    "condition": s.condition,
                    "wait": (
                        {"until": s.wait_until, "at_most_days": s.wait_at_most_days}
                        if s.wait_until
                        else None
                    ),
                    "markdown": s.body_markdown,
                    "html": s.body_html if s.body_markdown is None else None,
                    "text": s.body_text,
                    "variants": [variants.spec_dict(v) for v in s.variants] or None,
                    "translations": s.translations or None,
                }
                for s in version.steps
            ],
        }
    )


def _sequence_for(session: Session, spec: SequenceSpec) -> Sequence:
    sequence = session.scalar(select(Sequence).where(Sequence.slug == spec.slug))
    if sequence is None:
        sequence = Sequence(slug=spec.slug, name=spec.name, audience=spec.audience)
        session.add(sequence)
        session.flush()
    return sequence


def create_draft(session: Session, *, spec: SequenceSpec) -> SequenceVersion:
    """Store `spec` as a new draft version (the live version keeps sending)."""
    sequence = _sequence_for(session, spec)
    version = _version_from_spec(session, sequence, spec, state=VersionState.DRAFT)
    session.flush()
    return version


def publish(session: Session, *, version: SequenceVersion) -> None:
    """Make a draft the live version; older published versions keep serving their enrollments."""
    if version.state != VersionState.DRAFT:
        raise ValueError(f"version {version.number} is {version.state}, not a draft")
    version.state = VersionState.PUBLISHED
    version.published_at = clock.now()
    session.flush()


def publish_spec(session: Session, *, spec: SequenceSpec) -> LoadResult:
    """Publish `spec` as a new version unless the live version already says the same."""
    sequence = _sequence_for(session, spec)
    current = live_version(session, sequence.id)
    if current is not None and spec_of(current) == spec:
        return LoadResult(spec.slug, current.number, changed=False)
    sequence.name, sequence.audience = spec.name, spec.audience
    version = _version_from_spec(session, sequence, spec, state=VersionState.DRAFT)
    publish(session, version=version)
    return LoadResult(spec.slug, version.number, changed=True)


def _version_from_spec(
    session: Session, sequence: Sequence, spec: SequenceSpec, *, state: str
) -> SequenceVersion:
    number = (
        session.scalar(
            select(func.max(SequenceVersion.number)).where(
                SequenceVersion.sequence_id == sequence.id
            )
        )
        or 0
    ) + 1
    cool_down = spec.reentry.after_days if isinstance(spec.reentry, ReentrySpec) else None
    version = SequenceVersion(
        sequence_id=sequence.id,
        number=number,
        state=state,
        window_start_hour=spec.window.start_hour,
        window_end_hour=spec.window.end_hour,
        window_weekdays="".join(str(d) for d in sorted(set(spec.window.weekdays))),
        trigger=spec.trigger or "signup",
        goals=spec.goals,
        reentry=Reentry.AFTER if cool_down is not None else (spec.reentry or Reentry.ALWAYS),
        reentry_after_days=cool_down,
    )
    version.steps = [
        Step(
            position=i,
            key=s.key,
            kind=s.kind,
            delay_days=s.delay_days,
            delay_minutes=s.delay_minutes,
            subject=s.subject,
            preheader=s.preheader,
            condition=s.condition,
            wait_until=s.wait.until if s.wait else None,
            wait_at_most_days=s.wait.at_most_days if s.wait else None,
            body_markdown=s.markdown,
            body_html=s.body_html,
            body_text=s.text,
            variants=variants.variants_of(s),
            translations=translations.stored(s.translations),
        )
        for i, s in enumerate(spec.steps, start=1)
    ]
    session.add(version)
    session.flush()
    return version


def load_path(session: Session, *, path: Path, check: bool = True) -> list[LoadResult]:
    """Load every sequence file at `path`; all of them or, on any error, none.

    With `check` every step must first pass the checks the studio runs before saving, within
    the same render limits; a ValueError names the file, the step and what is wrong.
    """
    # Imported here: the checks render with delivery's context, which imports this module.
    from nurture.sequences.checks import spec_problems

    files = sequence_files(path)
    specs = [read_sequence_file(p) for p in files]
    if not specs:
        raise FileNotFoundError(f"no sequence files (*.yml) at {path}")
    if check:
        for file, spec in zip(files, specs, strict=True):
            found = spec_problems(spec)
            if found:
                raise ValueError(f"{file.name}: {'; '.join(found)}")
    return [publish_spec(session, spec=spec) for spec in specs]


def has_sequences(session: Session) -> bool:
    """Tell whether any sequence exists yet."""
    return session.scalar(select(Sequence.id).limit(1)) is not None
