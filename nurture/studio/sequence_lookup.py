"""Find the sequence, draft and draft step a studio URL names, or answer 404/409."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.sequences import drafts
from nurture.sequences.models import Sequence, SequenceVersion, Step


def sequence_or_404(session: Session, slug: str) -> Sequence:
    """Return the sequence called slug, or answer 404."""
    sequence = session.scalar(select(Sequence).where(Sequence.slug == slug))
    if sequence is None:
        raise HTTPException(status_code=404, detail=f"No sequence called {slug}.")
    return sequence


def draft_or_409(session: Session, sequence: Sequence) -> SequenceVersion:
    """Return the sequence's draft, or answer 409 when it has none."""
    draft = drafts.draft_of(session, sequence)
    if draft is None:
        raise HTTPException(
            status_code=409, detail="This sequence has no draft; start editing it first."
        )
    return draft


def draft_step_or_404(session: Session, draft: SequenceVersion, step_id: int) -> Step:
    """Return the draft's step with this id, or answer 404."""
    step = session.get(Step, step_id)
    if step is None or step.version_id != draft.id:
        raise HTTPException(status_code=404, detail="No such step in the draft.")
    return step
