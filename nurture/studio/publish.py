"""Publishing a draft: the diff, the checks, and moving people onto the new version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nurture.enrollments.service import migrate_version
from nurture.http.deps import SessionDep
from nurture.http.errors import field_errors
from nurture.sequences import checks, drafts
from nurture.sequences.missing import missing_translations
from nurture.sequences.models import Sequence, SequenceVersion
from nurture.sequences.service import live_version, publish, spec_of
from nurture.studio.sequence_lookup import draft_or_409, sequence_or_404
from nurture.studio.step_form import StepForm
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()


def _draft_problems(draft: SequenceVersion) -> list[str]:
    found: list[str] = []
    try:
        spec = spec_of(draft)
    except ValidationError as exc:
        spec = None
        found.extend(f"{k}: {v}" for k, v in field_errors(exc.errors()).items())
    for step in draft.steps:
        for problem in checks.check_step(StepForm.of(step).source()).errors:
            found.append(f"step {step.position} ({step.key}): {problem}")
    if spec is not None:
        found += checks.translation_problems(spec)
    return found


@router.get("/sequences/{slug}/publish", response_class=HTMLResponse)
def publish_form(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """The diff against the live version and what publishing means for people in it."""
    sequence = sequence_or_404(session, slug)
    draft = drafts.draft_of(session, sequence)
    if draft is None:
        return redirect(request, f"{PREFIX}/sequences/{slug}", "There is no draft to publish.")
    return _publish_page(request, staff, session, sequence, draft)


def _publish_page(
    request: Request,
    staff: Any,
    session: Session,
    sequence: Sequence,
    draft: SequenceVersion,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "publish.html",
        staff,
        status_code=status_code,
        title=f"Publish {sequence.name}",
        sequence=sequence,
        draft=draft,
        live=live_version(session, sequence.id),
        diff=drafts.diff(session, draft),
        impact=drafts.impact(session, draft),
        problems=_draft_problems(draft),
        missing=missing_translations(session, draft),
        error=error,
    )


@router.post("/sequences/{slug}/publish", response_class=HTMLResponse)
def publish_draft(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    move_people: Annotated[str, Form()] = "",
) -> Response:
    """Publish the draft as the new live version; optionally move people onto it."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    problems = _draft_problems(draft)
    if problems:
        return _publish_page(
            request, staff, session, sequence, draft, "Fix the problems listed first.", 422
        )
    live = live_version(session, sequence.id)
    publish(session, version=draft)
    moved = ""
    if move_people:
        try:
            report = migrate_version(session, to_version=draft)
        except ValueError as exc:
            session.rollback()
            session.refresh(draft)
            return _publish_page(
                request, staff, session, sequence, draft, f"Nothing was published: {exc}.", 409
            )
        moved = f" {report.moved} people moved to it"
        if report.waiting:
            moved += f"; {report.waiting} had an email in flight and stay on their version"
        moved += "."
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}",
        flash=f"Version {draft.number} is live.{moved}",
        action="sequence.publish",
        target=f"{slug} v{draft.number}",
        before=spec_of(live).model_dump(mode="json") if live else None,
        after=spec_of(draft).model_dump(mode="json") | {"moved_people": bool(move_people)},
    )
