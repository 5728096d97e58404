"""The draft of a sequence: its send window, trigger and steps; discard it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from nurture.sequences import drafts
from nurture.sequences.files import (
    SequenceSpec,
    WindowSpec,
)
from nurture.sequences.models import Sequence, SequenceVersion, Trigger
from nurture.sequences.service import spec_of
from nurture.studio.sequence_lookup import draft_or_409, draft_step_or_404, sequence_or_404
from nurture.studio.step_form import CONDITIONS, step_dict
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router
from nurture.web import SessionDep, field_errors

router = studio_router()


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@router.get("/sequences/{slug}/edit", response_class=HTMLResponse)
def edit(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """The draft: its send window and its steps, to reorder, add or remove."""
    sequence = sequence_or_404(session, slug)
    draft = drafts.draft_of(session, sequence)
    if draft is None:
        return redirect(request, f"{PREFIX}/sequences/{slug}", "Start a draft to edit.")
    return _edit_page(request, staff, sequence, draft)


def _edit_page(
    request: Request,
    staff: Any,
    sequence: Sequence,
    draft: SequenceVersion,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    return page(
        request,
        "edit.html",
        staff,
        status_code=status_code,
        title=f"Editing {sequence.name}",
        sequence=sequence,
        draft=draft,
        weekdays=WEEKDAYS,
        conditions=CONDITIONS,
        triggers=[t.value for t in Trigger],
        **extra,
    )


@router.post("/sequences/{slug}/edit/window", response_class=HTMLResponse)
def save_window(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    start_hour: Annotated[str, Form()] = "",
    end_hour: Annotated[str, Form()] = "",
    weekdays: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Change the draft's send window."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    try:
        window = WindowSpec.model_validate(
            {"start_hour": start_hour, "end_hour": end_hour, "weekdays": weekdays or []}
        )
    except ValidationError as exc:
        message = "; ".join(field_errors(exc.errors()).values())
        return _edit_page(
            request,
            staff,
            sequence,
            draft,
            422,
            window_error=f"The send window was not saved: {message}.",
        )
    before = spec_of(draft).window.model_dump()
    drafts.set_window(draft, window)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash="Send window saved.",
        action="sequence.window",
        target=f"{slug} v{draft.number}",
        before=before,
        after=window.model_dump(),
    )


@router.post("/sequences/{slug}/edit/trigger", response_class=HTMLResponse)
def save_trigger(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    trigger: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Change the event that starts the draft's sequence."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    before = draft.trigger
    try:
        # Checked as the whole file would be: a trigger that is also a goal is refused.
        spec = SequenceSpec.model_validate({**spec_of(draft).model_dump(), "trigger": trigger})
    except ValidationError as exc:
        message = "; ".join(field_errors(exc.errors()).values())
        return _edit_page(
            request,
            staff,
            sequence,
            draft,
            422,
            trigger_error=f"The trigger was not saved: {message}.",
        )
    draft.trigger = spec.trigger or Trigger.SIGNUP
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash="Trigger saved.",
        action="sequence.trigger",
        target=f"{slug} v{draft.number}",
        before={"trigger": before},
        after={"trigger": draft.trigger},
    )


@router.post("/sequences/{slug}/edit/steps")
def add_step(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Append a step to the draft and open it."""
    draft = draft_or_409(session, sequence_or_404(session, slug))
    step = drafts.add_step(session, draft)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}",
        flash="Step added.",
        action="step.add",
        target=f"{slug} v{draft.number} {step.key}",
        after=step_dict(step),
    )


@router.post("/sequences/{slug}/edit/steps/{step_id}/move")
def move_step(
    slug: str,
    step_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    direction: Annotated[str, Form()] = "",
) -> Response:
    """Move a step earlier or later in the draft."""
    if direction not in ("up", "down"):
        raise HTTPException(status_code=422, detail="direction must be up or down")
    draft = draft_or_409(session, sequence_or_404(session, slug))
    step = draft_step_or_404(session, draft, step_id)
    before = step.position
    drafts.move_step(session, draft, step, -1 if direction == "up" else 1)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Moved '{step.key}' {direction}.",
        action="step.move",
        target=f"{slug} v{draft.number} {step.key}",
        before={"position": before},
        after={"position": step.position},
    )


@router.post("/sequences/{slug}/edit/discard")
def discard(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Throw the draft away; the live version is untouched."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    before = spec_of(draft).model_dump(mode="json")
    session.delete(draft)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}",
        flash="Draft discarded.",
        action="sequence.discard",
        target=f"{slug} v{draft.number}",
        before=before,
    )
