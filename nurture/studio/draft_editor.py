"""The draft of a sequence: its send window, trigger, goal, re-entry and steps; discard it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nurture.http.deps import SessionDep
from nurture.http.errors import field_errors
from nurture.sequences import drafts
from nurture.sequences.files import (
    ReentrySpec,
    SequenceSpec,
    WindowSpec,
)
from nurture.sequences.models import Reentry, Sequence, SequenceVersion
from nurture.sequences.service import spec_of
from nurture.studio import journey_words
from nurture.studio.sequence_lookup import draft_or_409, draft_step_or_404, sequence_or_404
from nurture.studio.step_form import CONDITIONS, step_dict
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@router.get("/sequences/{slug}/edit", response_class=HTMLResponse)
def edit(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """The draft: its journey, its send window and its steps, to reorder, add or remove."""
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
    # What each journey form shows: the draft's, or what was just refused.
    journey = {
        "trigger": draft.trigger,
        "goal": journey_words.goal_value(list(draft.goals)),
        "reentry": draft.reentry,
        "after_days": draft.reentry_after_days or "",
    } | extra.pop("journey", {})
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
        triggers=journey_words.trigger_choices(sequence.audience),
        goal_choices=journey_words.GOAL_CHOICES,
        reentry_choices=journey_words.REENTRY_CHOICES,
        journey=journey,
        **extra,
    )


def _spec_with(draft: SequenceVersion, **changes: object) -> SequenceSpec:
    # Checked as the whole file would be: a goal that is also the trigger is refused.
    return SequenceSpec.model_validate({**spec_of(draft).model_dump(), **changes})


def _message(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(field_errors(exc.errors()).values())
    return str(exc)


def _journey(draft: SequenceVersion) -> dict[str, Any]:
    """Return the draft's trigger, goals and re-entry rule as an audit entry keeps them."""
    return {
        "trigger": draft.trigger,
        "goal": list(draft.goals),
        "reentry": draft.reentry,
        "reentry_after_days": draft.reentry_after_days,
    }


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


def _save_journey(
    request: Request,
    staff: Any,
    session: Session,
    slug: str,
    *,
    what: str,
    label: str,
    changes: Callable[[], dict[str, object]],
    typed: dict[str, str],
    keys: tuple[str, ...],
) -> Response:
    """Save one journey setting of the draft, checked as the whole file would be."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    try:
        spec = _spec_with(draft, **changes())
    except (ValidationError, ValueError) as exc:
        refused = {f"{what}_error": f"The {label} was not saved: {_message(exc)}."}
        return _edit_page(request, staff, sequence, draft, 422, journey=typed, **refused)
    before = _journey(draft)
    drafts.set_journey(draft, spec)
    after = _journey(draft)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"{label[0].upper()}{label[1:]} saved.",
        action=f"sequence.{what}",
        target=f"{slug} v{draft.number}",
        before={k: before[k] for k in keys},
        after={k: after[k] for k in keys},
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
    return _save_journey(
        request,
        staff,
        session,
        slug,
        what="trigger",
        label="trigger",
        changes=lambda: {"trigger": trigger},
        typed={"trigger": trigger},
        keys=("trigger",),
    )


@router.post("/sequences/{slug}/edit/goal", response_class=HTMLResponse)
def save_goal(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    goal: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Change what ends the draft's sequence early (a booking, a visit, both or nothing)."""

    def changes() -> dict[str, object]:
        goals = journey_words.goals_of(goal)
        if goals is None:
            raise ValueError("choose one of the options")
        return {"goal": goals}

    return _save_journey(
        request,
        staff,
        session,
        slug,
        what="goal",
        label="goal",
        changes=changes,
        typed={"goal": goal},
        keys=("goal",),
    )


# The file's own limits (ReentrySpec), said in words rather than as pydantic's two messages.
_DAYS = {type(m).__name__: m for m in ReentrySpec.model_fields["after_days"].metadata}
_DAYS_RULE = f"the pause is a whole number of days from {_DAYS['Ge'].ge} to {_DAYS['Le'].le}"


@router.post("/sequences/{slug}/edit/reentry", response_class=HTMLResponse)
def save_reentry(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    reentry: Annotated[str, Form(max_length=20)] = "",
    after_days: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Change whether someone who has been through the draft's sequence may start it again."""

    def changes() -> dict[str, object]:
        if reentry == Reentry.AFTER:
            try:
                return {"reentry": ReentrySpec.model_validate({"after_days": after_days.strip()})}
            except ValidationError:
                raise ValueError(_DAYS_RULE) from None
        if reentry in (Reentry.ALWAYS, Reentry.NEVER):
            return {"reentry": reentry}
        raise ValueError("choose one of the options")

    return _save_journey(
        request,
        staff,
        session,
        slug,
        what="reentry",
        label="re-entry rule",
        changes=changes,
        typed={"reentry": reentry, "after_days": after_days},
        keys=("reentry", "reentry_after_days"),
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
