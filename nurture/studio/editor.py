"""Sequences in the studio: list, draft editor with live preview, test sends, publish, YAML."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from fastapi import File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from nurture import clock
from nurture.clinic import service as clinic
from nurture.config import get_settings
from nurture.delivery.backends import DeliveryError
from nurture.delivery.proofs import send_proof
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.enrollments.service import migrate_version
from nurture.leads.models import NumbnessType
from nurture.leads.schemas import check_timezone
from nurture.rendering.environment import html_to_text
from nurture.rendering.markdown import MarkdownTooLong
from nurture.sequences import checks, drafts
from nurture.sequences.export import dump_spec
from nurture.sequences.files import (
    SequenceSpec,
    StepSpec,
    WindowSpec,
    parse_sequence,
    tidy_lines,
)
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepKind, Trigger
from nurture.sequences.service import create_draft, live_version, publish, spec_of
from nurture.sequences.simulate import PlannedEmail, simulate
from nurture.studio import audit
from nurture.studio.web import PREFIX, StaffDep, committed, download, page, redirect, studio_router
from nurture.web import SessionDep, errors_text, field_errors

router = studio_router()
CONDITIONS = {
    "": "Always send",
    "not_booked": "Only if they have not booked",
    "clicked_previous": "Only if they clicked the previous email",
    "review_due": "Only if a review request is due (visits, cool-down)",
}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class StepForm(BaseModel):
    """The step editor's fields as typed; checked by StepSpec before anything is saved."""

    key: str = ""
    kind: str = StepKind.EDUCATION.value
    delay_days: str = "0"
    delay_minutes: str = "0"
    condition: str = ""
    subject: str = ""
    preheader: str = ""
    # "markdown" or "html"; a client that sends no format has written whichever body it filled.
    format: str = ""
    markdown: str = ""
    html: str = ""
    text: str = ""

    @field_validator("subject", "preheader", "markdown", "html", "text")
    @classmethod
    def _tidy(cls, value: str, info: ValidationInfo) -> str:
        # Before anything is checked or previewed, so the preview shows what will be saved.
        return tidy_lines(value, markdown=info.field_name == "markdown")

    @property
    def in_markdown(self) -> bool:
        """Tell whether the body is written in Markdown."""
        if self.format in ("markdown", "html"):
            return self.format == "markdown"
        return bool(self.markdown.strip()) and not self.html.strip()

    @classmethod
    def of(cls, step: Step) -> StepForm:
        return cls(
            key=step.key,
            kind=step.kind,
            delay_days=str(step.delay_days),
            delay_minutes=str(step.delay_minutes),
            condition=step.condition or "",
            subject=step.subject,
            preheader=step.preheader,
            format="html" if step.body_markdown is None else "markdown",
            markdown=step.body_markdown or "",
            # For a Markdown step, the HTML made from it: where the advanced mode starts.
            html=step.body_html,
            text=step.body_text or "",
        )

    def source(self) -> checks.StepSource:
        if self.in_markdown:
            return checks.StepSource(
                self.subject, self.preheader, "", self.text or None, self.markdown
            )
        return checks.StepSource(self.subject, self.preheader, self.html, self.text or None)


def _sequence(session: Session, slug: str) -> Sequence:
    sequence = session.scalar(select(Sequence).where(Sequence.slug == slug))
    if sequence is None:
        raise HTTPException(status_code=404, detail=f"No sequence called {slug}.")
    return sequence


def _draft(session: Session, sequence: Sequence) -> SequenceVersion:
    draft = drafts.draft_of(session, sequence)
    if draft is None:
        raise HTTPException(
            status_code=409, detail="This sequence has no draft; start editing it first."
        )
    return draft


def _draft_step(session: Session, draft: SequenceVersion, step_id: int) -> Step:
    step = session.get(Step, step_id)
    if step is None or step.version_id != draft.id:
        raise HTTPException(status_code=404, detail="No such step in the draft.")
    return step


def _step_dict(step: Step) -> dict[str, Any]:
    return StepForm.of(step).model_dump() | {"position": step.position}


def _validate(
    form: StepForm, numbness_type: str = NumbnessType.UNSURE
) -> tuple[StepSpec | None, checks.Checked]:
    """Check the fields, then the templates; return the spec only when nothing blocks it."""
    try:
        spec = StepSpec.model_validate(
            {
                "key": form.key.strip(),
                "kind": form.kind,
                "delay_days": form.delay_days.strip() or "0",
                "delay_minutes": form.delay_minutes.strip() or "0",
                "condition": form.condition or None,
                "subject": form.subject,
                "preheader": form.preheader,
                "markdown": form.markdown if form.in_markdown else None,
                "html": None if form.in_markdown else form.html,
                "text": form.text if form.text.strip() else None,
            }
        )
    except ValidationError as exc:
        fields = field_errors(exc.errors())
        problems = [checks.Problem(name, message) for name, message in fields.items()]
        return None, checks.Checked(problems, None)
    checked = checks.check_step(form.source(), numbness_type)
    return (None if checked.errors else spec), checked


@router.get("/sequences", response_class=HTMLResponse)
def sequence_list(request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """Every sequence with its audience, state, live version and enrollment counts."""
    counts = {
        sid: (int(total), int(active or 0), int(done or 0))
        for sid, total, active, done in session.execute(
            select(
                Enrollment.sequence_id,
                func.count(Enrollment.id),
                func.sum(case((Enrollment.status == EnrollmentStatus.ACTIVE, 1), else_=0)),
                func.sum(case((Enrollment.status == EnrollmentStatus.COMPLETED, 1), else_=0)),
            ).group_by(Enrollment.sequence_id)
        )
    }
    rows = []
    for sequence in session.scalars(select(Sequence).order_by(Sequence.audience, Sequence.slug)):
        live = live_version(session, sequence.id)
        draft = drafts.draft_of(session, sequence)
        rows.append(
            {
                "sequence": sequence,
                "live": live,
                "draft": draft,
                "steps": len(live.steps) if live else 0,
                "counts": counts.get(sequence.id, (0, 0, 0)),
            }
        )
    return page(request, "sequences.html", staff, title="Sequences", rows=rows)


@router.post("/sequences", response_class=HTMLResponse)
def new_sequence(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    slug: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    audience: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Start a new sequence as a draft with one starter step."""
    try:
        spec = drafts.starter_spec(slug=slug.strip(), name=name.strip(), audience=audience.strip())
        if session.scalar(select(Sequence.id).where(Sequence.slug == spec.slug)) is not None:
            raise ValueError(f"a sequence called '{spec.slug}' exists already")
    except ValidationError as exc:
        detail = errors_text(exc.errors())
        return redirect(request, f"{PREFIX}/sequences", f"Not created: {detail}")
    except ValueError as exc:
        return redirect(request, f"{PREFIX}/sequences", f"Not created: {exc}.")
    draft = create_draft(session, spec=spec)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{spec.slug}/edit",
        flash="Sequence created as a draft: write its steps, then publish it.",
        action="sequence.create",
        target=f"{spec.slug} v{draft.number}",
        after=spec.model_dump(mode="json"),
    )


@router.get("/sequences/{slug}", response_class=HTMLResponse)
def sequence_view(
    slug: str, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """One sequence: its live steps, its versions and what can be done with it."""
    sequence = _sequence(session, slug)
    return page(
        request,
        "sequence.html",
        staff,
        title=sequence.name,
        sequence=sequence,
        live=live_version(session, sequence.id),
        draft=drafts.draft_of(session, sequence),
        versions=list(reversed(sequence.versions)),
        conditions=CONDITIONS,
    )


@router.post("/sequences/{slug}/draft")
def start_draft(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Start editing: copy the live version into a draft (or reopen the draft)."""
    sequence = _sequence(session, slug)
    existed = drafts.draft_of(session, sequence) is not None
    draft = drafts.ensure_draft(session, sequence)
    if not existed:
        audit.record(
            session, staff=staff, action="sequence.draft", target=f"{slug} v{draft.number}"
        )
    session.commit()
    return redirect(request, f"{PREFIX}/sequences/{slug}/edit")


@router.get("/sequences/{slug}/edit", response_class=HTMLResponse)
def edit(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """The draft: its send window and its steps, to reorder, add or remove."""
    sequence = _sequence(session, slug)
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
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
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
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
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
    draft = _draft(session, _sequence(session, slug))
    step = drafts.add_step(session, draft)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}",
        flash="Step added.",
        action="step.add",
        target=f"{slug} v{draft.number} {step.key}",
        after=_step_dict(step),
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
    draft = _draft(session, _sequence(session, slug))
    step = _draft_step(session, draft, step_id)
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


@router.post("/sequences/{slug}/edit/steps/{step_id}/remove")
def remove_step(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove a step from the draft."""
    draft = _draft(session, _sequence(session, slug))
    step = _draft_step(session, draft, step_id)
    before = _step_dict(step)
    try:
        drafts.remove_step(session, draft, step)
    except ValueError as exc:
        session.rollback()
        return redirect(request, f"{PREFIX}/sequences/{slug}/edit", f"Not removed: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Removed '{before['key']}'.",
        action="step.remove",
        target=f"{slug} v{draft.number} {before['key']}",
        before=before,
    )


def _step_page(
    request: Request,
    staff: Any,
    sequence: Sequence,
    draft: SequenceVersion,
    step: Step,
    form: StepForm,
    found: list[checks.Problem],
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    return page(
        request,
        "step.html",
        staff,
        status_code=status_code,
        title=f"{sequence.name}: step {step.position}",
        sequence=sequence,
        draft=draft,
        step=step,
        form=form,
        problems=[p for p in found if p.severity == "error"],
        warnings=[p for p in found if p.severity == "warning"],
        conditions=CONDITIONS,
        kinds=[k.value for k in StepKind],
        types=sorted(NumbnessType),
        variables=checks.VARIABLES,
        **extra,
    )


@router.get("/sequences/{slug}/edit/steps/{step_id}", response_class=HTMLResponse)
def step_form(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """The step editor, with its live preview."""
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
    step = _draft_step(session, draft, step_id)
    form = StepForm.of(step)
    found = checks.check_step(form.source()).problems
    return _step_page(request, staff, sequence, draft, step, form, found)


@router.post("/sequences/{slug}/edit/steps/{step_id}", response_class=HTMLResponse)
def save_step(
    slug: str,
    step_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[StepForm, Form()],
) -> Response:
    """Save a step if it passes every check; otherwise show what to fix and keep nothing."""
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
    step = _draft_step(session, draft, step_id)
    spec, checked = _validate(form)
    found = checked.problems
    if spec is not None and spec.key != step.key and spec.key in {s.key for s in draft.steps}:
        found.append(checks.Problem("key", f"another step is called '{spec.key}'"))
        spec = None
    if spec is None:
        return _step_page(request, staff, sequence, draft, step, form, found, 422)
    before = _step_dict(step)
    drafts.update_step(step, spec)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}",
        flash="Step saved to the draft.",
        action="step.edit",
        target=f"{slug} v{draft.number} {spec.key}",
        before=before,
        after=_step_dict(step),
    )


@router.post("/sequences/{slug}/edit/steps/{step_id}/preview")
def preview_step(
    slug: str,
    step_id: int,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[StepForm, Form()],
    numbness_type: Annotated[str, Form()] = "unsure",
    fill_text: Annotated[str, Form()] = "",
) -> JSONResponse:
    """Render the fields as typed (not saved) for a sample lead of one numbness type."""
    draft = _draft(session, _sequence(session, slug))
    _draft_step(session, draft, step_id)
    if numbness_type not in set(NumbnessType):
        numbness_type = NumbnessType.UNSURE
    checked = checks.check_step(form.source(), numbness_type)
    result: dict[str, Any] = {
        "problems": [
            {"field": p.field, "line": p.line, "message": str(p), "severity": p.severity}
            for p in checked.problems
        ]
    }
    email = checked.email
    if email is not None:  # shown even with problems, as long as it renders
        result.update(
            subject=email.subject, preheader=email.preheader, html=email.html, text=email.text
        )
    source = form.source()
    try:
        body_html = source.body_html
    except MarkdownTooLong:
        body_html = None  # the problems above say so
    if body_html is not None and form.in_markdown:
        result["body_html"] = body_html
    if fill_text and body_html is not None:
        result["derived_text"] = html_to_text(body_html)
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


@router.post("/sequences/{slug}/edit/steps/{step_id}/test", response_class=HTMLResponse)
def send_test(
    slug: str,
    step_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[StepForm, Form()],
    numbness_type: Annotated[str, Form()] = "unsure",
) -> Response:
    """Send the step as typed to the signed-in staff member, marked as a test."""
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
    step = _draft_step(session, draft, step_id)
    kind = numbness_type if numbness_type in set(NumbnessType) else NumbnessType.UNSURE
    spec, checked = _validate(form, kind)
    found = checked.problems
    if spec is None or checked.email is None:
        return _step_page(request, staff, sequence, draft, step, form, found, 422)
    try:
        send_proof(checked.email, to_email=staff.email)
    except DeliveryError as exc:
        found.append(checks.Problem("html", f"the test was not sent: {exc}"))
        return _step_page(request, staff, sequence, draft, step, form, found, 502)
    audit.record(
        session, staff=staff, action="step.test_send", target=f"{slug} v{draft.number} {spec.key}"
    )
    session.commit()
    return _step_page(
        request,
        staff,
        sequence,
        draft,
        step,
        form,
        found,
        flash=f"Test sent to {staff.email} as a {kind} lead would get it (marked [Test], not "
        "counted in results). The form below still holds your unsaved changes.",
    )


@router.post("/sequences/{slug}/edit/discard")
def discard(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Throw the draft away; the live version is untouched."""
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
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


def _draft_problems(draft: SequenceVersion) -> list[str]:
    found: list[str] = []
    try:
        spec_of(draft)
    except ValidationError as exc:
        found.extend(f"{k}: {v}" for k, v in field_errors(exc.errors()).items())
    for step in draft.steps:
        for problem in checks.check_step(StepForm.of(step).source()).errors:
            found.append(f"step {step.position} ({step.key}): {problem}")
    return found


@router.get("/sequences/{slug}/publish", response_class=HTMLResponse)
def publish_form(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """The diff against the live version and what publishing means for people in it."""
    sequence = _sequence(session, slug)
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
    sequence = _sequence(session, slug)
    draft = _draft(session, sequence)
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


@router.get("/sequences/{slug}/export")
def export_yaml(slug: str, _: StaffDep, session: SessionDep, version: str = "live") -> Response:
    """Download the live version (or the draft) as a sequence file for git."""
    sequence = _sequence(session, slug)
    chosen = (
        drafts.draft_of(session, sequence)
        if version == "draft"
        else live_version(session, sequence.id)
    )
    if chosen is None:
        raise HTTPException(status_code=404, detail=f"{slug} has no {version} version.")
    return download(
        dump_spec(spec_of(chosen)),
        filename=f"{slug}.yml",
        media_type="application/yaml; charset=utf-8",
    )


@router.post("/sequences/{slug}/import", response_class=HTMLResponse)
def import_yaml(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Make an uploaded sequence file the draft, after checking it like `nurture sequences load`."""
    sequence = _sequence(session, slug)
    raw = file.file.read()  # a plain def: the checks below run off the event loop
    try:
        spec = parse_sequence(raw.decode("utf-8"))
        draft = drafts.replace_with(session, sequence, spec)
    except UnicodeDecodeError:
        return redirect(request, f"{PREFIX}/sequences/{slug}", "Not imported: not UTF-8 text.")
    except yaml.YAMLError as exc:
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: bad YAML: {exc}")
    except ValidationError as exc:
        fields = errors_text(exc.errors())
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: {fields}")
    except ValueError as exc:
        session.rollback()
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Imported {file.filename or 'the file'} as draft version {draft.number}.",
        action="sequence.import",
        target=f"{slug} v{draft.number}",
        after=spec.model_dump(mode="json"),
    )


@router.get("/simulator", response_class=HTMLResponse)
def simulator(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    sequence: str = "",
    version: str = "live",
    day: str = "",
    at: str = "21:00",
    timezone: str = "",
) -> HTMLResponse:
    """When each email would reach a lead who confirms at a given local time and zone."""
    s = get_settings()
    sequences = list(session.scalars(select(Sequence).order_by(Sequence.audience)))
    zone_name = timezone.strip() or s.clinic_timezone
    try:
        today = clock.now().astimezone(ZoneInfo(check_timezone(zone_name)))
    except ValueError:
        today = clock.now().astimezone(ZoneInfo(s.clinic_timezone))
    form = {
        "sequence": sequence or (sequences[0].slug if sequences else ""),
        "version": version,
        "day": day or today.date().isoformat(),
        "at": at,
        "timezone": zone_name,
    }
    error = ""
    chosen: SequenceVersion | None = None
    timeline = None
    if sequence:
        try:
            chosen, timeline = _simulated(session, sequences, form)
        except ValueError as exc:
            error = str(exc)
    subjects: dict[int, str] = {}
    if timeline and chosen is not None:
        # Subjects as the lead reads them (first name filled in), for a sample lead.
        audience = chosen.sequence.audience
        kind = audience if audience in set(NumbnessType) else NumbnessType.UNSURE
        for planned in timeline:
            try:
                email = checks.render_for(StepForm.of(planned.step).source(), kind)
            except Exception:  # noqa: BLE001 - a broken draft step shows its raw subject
                continue
            subjects[planned.step.id] = email.subject
    return page(
        request,
        "simulator.html",
        staff,
        status_code=422 if error else 200,
        title="Timeline simulator",
        sequences=sequences,
        form=form,
        error=error,
        timeline=timeline,
        subjects=subjects,
        chosen=chosen,
        conditions=CONDITIONS,
        closures=list(clinic.effective().clinic_closures),
    )


def _simulated(
    session: Session, sequences: list[Sequence], form: dict[str, str]
) -> tuple[SequenceVersion, list[PlannedEmail]]:
    """Plan the chosen version for the form's lead; ValueError says what is wrong."""
    tz = ZoneInfo(check_timezone(form["timezone"]))
    try:
        local = datetime.combine(date.fromisoformat(form["day"]), time.fromisoformat(form["at"]))
    except ValueError:
        raise ValueError("Give the date as YYYY-MM-DD and the time as HH:MM.") from None
    seq = next((q for q in sequences if q.slug == form["sequence"]), None)
    if seq is None:
        raise ValueError(f"No sequence called {form['sequence']}.")
    draft = form["version"] == "draft"
    chosen = drafts.draft_of(session, seq) if draft else live_version(session, seq.id)
    if chosen is None:
        raise ValueError(f"{seq.name} has no {form['version']} version.")
    return chosen, simulate(chosen, confirmed_at=local.replace(tzinfo=tz), tz=tz)
