"""A sequence's published history: list it, compare it, restore from it, copy a sequence."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.sequences.drafts import draft_of
from nurture.sequences.export import dump_spec
from nurture.sequences.files import SequenceSpec
from nurture.sequences.models import Sequence, SequenceVersion, VersionState
from nurture.sequences.service import create_draft, live_version, spec_of
from nurture.staff.models import AuditEntry


class DraftExists(ValueError):
    """Restoring would replace a draft someone is editing, and no one said to discard it."""


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version that has been live: when, by whom, and how many steps it had."""

    number: int
    state: str
    published_at: datetime | None
    published_by: str
    steps: int
    live: bool


def source_version(session: Session, sequence: Sequence) -> SequenceVersion | None:
    """Return the live version, or the newest version of any state when none is live."""
    live = live_version(session, sequence.id)
    if live is not None:
        return live
    return session.scalar(
        select(SequenceVersion)
        .where(SequenceVersion.sequence_id == sequence.id)
        .order_by(SequenceVersion.number.desc())
        .limit(1)
    )


def duplicate_sequence(
    session: Session, *, source: Sequence, slug: str, name: str
) -> SequenceVersion:
    """Copy the source's live (or latest) version into a new sequence, as a draft."""
    version = source_version(session, source)
    if version is None:
        raise ValueError(f"sequence '{source.slug}' has no version to copy")
    # Validated like a sequence file, so a bad slug or name is refused with the file's words.
    spec = SequenceSpec.model_validate(
        spec_of(version).model_dump(mode="json", exclude_none=True) | {"slug": slug, "name": name}
    )
    if session.scalar(select(Sequence.id).where(Sequence.slug == spec.slug)) is not None:
        raise ValueError(f"a sequence called '{spec.slug}' exists already")
    return create_draft(session, spec=spec)


def published_versions(session: Session, sequence: Sequence) -> list[VersionRow]:
    """Every version that has been published, newest first, with who published it."""
    live = live_version(session, sequence.id)
    versions = session.scalars(
        select(SequenceVersion)
        .where(
            SequenceVersion.sequence_id == sequence.id,
            SequenceVersion.state != VersionState.DRAFT,
        )
        .order_by(SequenceVersion.number.desc())
    ).all()
    targets = {f"{sequence.slug} v{v.number}": v.number for v in versions}
    # The newest entry wins: a number can come back after a draft is discarded and remade.
    publishers: dict[int, str] = {}
    for target, actor in session.execute(
        select(AuditEntry.target, AuditEntry.actor)
        .where(AuditEntry.action == "sequence.publish", AuditEntry.target.in_(list(targets)))
        .order_by(AuditEntry.at, AuditEntry.id)
    ):
        publishers[targets[target]] = actor
    return [
        VersionRow(
            number=v.number,
            state=v.state,
            published_at=v.published_at,
            published_by=publishers.get(v.number, "not recorded (loaded from files)"),
            steps=len(v.steps),
            live=live is not None and v.id == live.id,
        )
        for v in versions
    ]


def published(session: Session, sequence: Sequence, number: int) -> SequenceVersion | None:
    """Return version `number` of the sequence if it has been published (not a draft)."""
    return session.scalar(
        select(SequenceVersion).where(
            SequenceVersion.sequence_id == sequence.id,
            SequenceVersion.number == number,
            SequenceVersion.state != VersionState.DRAFT,
        )
    )


def diff_against_live(session: Session, version: SequenceVersion) -> list[str]:
    """Lines of a unified diff from the live version's file to `version`'s."""
    live = live_version(session, version.sequence_id)
    before = dump_spec(spec_of(live)).splitlines() if live else []
    after = dump_spec(spec_of(version)).splitlines()
    label = f"version {live.number} (live)" if live else "nothing"
    return list(
        difflib.unified_diff(
            before, after, fromfile=label, tofile=f"version {version.number}", lineterm=""
        )
    )


def restore_version_as_draft(
    session: Session, *, version: SequenceVersion, discard_draft: bool = False
) -> tuple[SequenceVersion, SequenceVersion | None]:
    """Copy an old version's steps into a new draft; return it and any draft it replaced.

    A draft being edited is only replaced when `discard_draft` says so; otherwise DraftExists.
    """
    if version.state == VersionState.DRAFT:
        raise ValueError("that version is the draft itself")
    spec = spec_of(version)
    old = draft_of(session, version.sequence)
    if old is not None:
        if not discard_draft:
            raise DraftExists(
                f"draft v{old.number} is being edited; confirm that it may be discarded"
            )
        session.delete(old)
        session.flush()
    return create_draft(session, spec=spec), old
