"""Safe editing: duplicate a sequence, read its history, restore an old version, undo a removal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nurture.http.deps import SessionDep
from nurture.http.errors import errors_text
from nurture.sequences import drafts, history
from nurture.sequences.models import Sequence, Step
from nurture.sequences.service import spec_of
from nurture.staff import audit
from nurture.staff.models import AuditEntry, StaffUser
from nurture.studio.sequence_lookup import draft_or_409, sequence_or_404
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()


@router.post("/sequences/{slug}/duplicate")
def duplicate(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    new_slug: Annotated[str, Form(max_length=200)] = "",
    new_name: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Copy a sequence's live (or latest) version into a new sequence, as a draft."""
    source = sequence_or_404(session, slug)
    back = f"{PREFIX}/sequences/{slug}"
    try:
        draft = history.duplicate_sequence(
            session, source=source, slug=new_slug.strip(), name=new_name.strip()
        )
    except ValidationError as exc:
        session.rollback()
        return redirect(request, back, f"Not copied: {errors_text(exc.errors())}")
    except ValueError as exc:
        session.rollback()
        return redirect(request, back, f"Not copied: {exc}.")
    copied = draft.sequence.slug
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{copied}/edit",
        flash=f"Copied {source.name} to {draft.sequence.name}, as a draft to edit and publish.",
        action="sequence.duplicate",
        target=f"{copied} v{draft.number}",
        after={"from": slug, **spec_of(draft).model_dump(mode="json")},
    )


def _history_page(
    request: Request,
    staff: StaffUser,
    session: Session,
    sequence: Sequence,
    compare: int | None,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    rows = history.published_versions(session, sequence)
    chosen = history.published(session, sequence, compare) if compare is not None else None
    return page(
        request,
        "history.html",
        staff,
        status_code=status_code,
        title=f"History of {sequence.name}",
        sequence=sequence,
        rows=rows,
        draft=drafts.draft_of(session, sequence),
        compare=chosen,
        diff=history.diff_against_live(session, chosen) if chosen else [],
        error=error,
    )


@router.get("/sequences/{slug}/history", response_class=HTMLResponse)
def version_history(
    slug: str, request: Request, staff: StaffDep, session: SessionDep, compare: int | None = None
) -> HTMLResponse:
    """Every published version, who published it, and a diff of one against the live one."""
    return _history_page(request, staff, session, sequence_or_404(session, slug), compare)


@router.post("/sequences/{slug}/history/{number}/restore", response_class=HTMLResponse)
def restore(
    slug: str,
    number: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    discard_draft: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Copy an old version into a new draft; an open draft is replaced only when confirmed."""
    sequence = sequence_or_404(session, slug)
    version = history.published(session, sequence, number)
    if version is None:
        raise HTTPException(status_code=404, detail=f"{slug} has no published version {number}.")
    try:
        draft, replaced = history.restore_version_as_draft(
            session, version=version, discard_draft=discard_draft == "yes"
        )
    except history.DraftExists as exc:
        session.rollback()
        message = f"Nothing was restored: {exc}. Tick the box to discard it, then restore again."
        return _history_page(
            request, staff, session, sequence, number, error=message, status_code=409
        )
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Version {number} is now draft v{draft.number}: check it, then publish it.",
        action="sequence.restore",
        target=f"{slug} v{draft.number}",
        before={"discarded_draft": replaced.number} if replaced else None,
        after={"from_version": number, **spec_of(draft).model_dump(mode="json")},
    )


@router.post("/sequences/{slug}/edit/steps/{step_id}/delete")
def remove_step(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove a step from the draft and offer to undo it (no confirm dialog to click through)."""
    draft = draft_or_409(session, sequence_or_404(session, slug))
    step = session.get(Step, step_id)
    if step is None or step.version_id != draft.id:
        raise HTTPException(status_code=404, detail="No such step in the draft.")
    snapshot = drafts.step_snapshot(step)
    back = f"{PREFIX}/sequences/{slug}/edit"
    try:
        drafts.remove_step(session, draft, step)
    except ValueError as exc:
        session.rollback()
        return redirect(request, back, f"Not removed: {exc}.")
    entry = audit.record(
        session,
        staff=staff,
        action="step.remove",
        target=f"{slug} v{draft.number} {snapshot['key']}",
        before=snapshot,
    )
    session.commit()
    # The page after the redirect shows the message with an Undo button for this entry.
    request.session["undo"] = f"{back}/undo/{entry.id}"
    return redirect(request, back, f"Removed '{snapshot['key']}'.")


@router.post("/sequences/{slug}/edit/undo/{entry_id}")
def undo_remove(
    slug: str, entry_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Put back a step removed from this draft, from the audit entry of its removal."""
    draft = draft_or_409(session, sequence_or_404(session, slug))
    entry = session.get(AuditEntry, entry_id)
    back = f"{PREFIX}/sequences/{slug}/edit"
    # Only a removal from this very draft: the entry's target names the draft's number.
    if (
        entry is None
        or entry.action != "step.remove"
        or not entry.target.startswith(f"{slug} v{draft.number} ")
        or not entry.before
    ):
        return redirect(request, back, "Nothing to undo: that removal is not from this draft.")
    try:
        step = drafts.restore_step(session, draft, entry.before)
    except ValueError as exc:
        session.rollback()
        return redirect(request, back, f"Not undone: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Put '{step.key}' back.",
        action="step.restore",
        target=f"{slug} v{draft.number} {step.key}",
        after={"undoes": entry.id, "position": step.position},
    )
