"""One draft step: the editor with its live preview, saving, and test sends."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from nurture.delivery.channels.base import DeliveryError
from nurture.delivery.proofs import send_proof
from nurture.http.deps import SessionDep
from nurture.leads.models import NumbnessType
from nurture.sequences import checks, drafts, variants
from nurture.sequences.files import MAX_VARIANTS, VariantSpec
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepKind
from nurture.sequences.to_markdown import html_to_markdown
from nurture.staff import audit
from nurture.studio.sequence_lookup import draft_or_409, draft_step_or_404, sequence_or_404
from nurture.studio.step_form import (
    CONDITIONS,
    StepForm,
    preview_json,
    step_dict,
    validate_step,
)
from nurture.studio.web import PREFIX, StaffDep, committed, page, studio_router

router = studio_router()


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
        max_variants=MAX_VARIANTS,
        **extra,
    )


def _as_sent(step: Step, form: StepForm, variant_key: str) -> checks.StepSource:
    """Return the step as typed, with a saved variant's fields over it when one is picked."""
    arm = variants.find_variant(step, variant_key or None)
    if arm is None:
        return form.source()
    return checks.with_variant(
        form.source(), VariantSpec.model_construct(**variants.spec_dict(arm))
    )


@router.get("/sequences/{slug}/edit/steps/{step_id}", response_class=HTMLResponse)
def step_form(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """The step editor, with its live preview."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    step = draft_step_or_404(session, draft, step_id)
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
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    step = draft_step_or_404(session, draft, step_id)
    spec, checked = validate_step(form)
    found = checked.problems
    if spec is not None and spec.key != step.key and spec.key in {s.key for s in draft.steps}:
        found.append(checks.Problem("key", f"another step is called '{spec.key}'"))
        spec = None
    if spec is None:
        return _step_page(request, staff, sequence, draft, step, form, found, 422)
    before = step_dict(step)
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
        after=step_dict(step),
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
    variant: Annotated[str, Form(max_length=40)] = "",
    location: Annotated[str, Form(max_length=40)] = "",
) -> JSONResponse:
    """Render the fields as typed (not saved) for a sample lead, as one variant if picked."""
    draft = draft_or_409(session, sequence_or_404(session, slug))
    step = draft_step_or_404(session, draft, step_id)
    if numbness_type not in set(NumbnessType):
        numbness_type = NumbnessType.UNSURE
    checked = checks.check_step(
        _as_sent(step, form, variant), numbness_type, location_key=location or None
    )
    # The body fields are the step's own, whichever variant the preview shows.
    return preview_json(
        checked, form.source(), in_markdown=form.in_markdown, fill_text=bool(fill_text)
    )


@router.post("/sequences/{slug}/edit/steps/{step_id}/test", response_class=HTMLResponse)
def send_test(
    slug: str,
    step_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[StepForm, Form()],
    numbness_type: Annotated[str, Form()] = "unsure",
    variant: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Send the step as typed to the signed-in staff member, as one variant if picked."""
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    step = draft_step_or_404(session, draft, step_id)
    kind = numbness_type if numbness_type in set(NumbnessType) else NumbnessType.UNSURE
    spec, checked = validate_step(form, kind)
    arm = variants.find_variant(step, variant or None)
    if spec is not None and arm is not None:
        checked = checks.check_step(_as_sent(step, form, arm.key), kind)
        spec = None if checked.errors else spec
    found = checked.problems
    if spec is None or checked.email is None:
        return _step_page(request, staff, sequence, draft, step, form, found, 422)
    try:
        send_proof(checked.email, to_email=staff.email)
    except DeliveryError as exc:
        found.append(checks.Problem("html", f"the test was not sent: {exc}"))
        return _step_page(request, staff, sequence, draft, step, form, found, 502)
    which = f" variant {arm.key}" if arm is not None else ""
    audit.record(
        session,
        staff=staff,
        action="step.test_send",
        target=f"{slug} v{draft.number} {spec.key}{which}",
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
        flash=f"Test{which} sent to {staff.email} as a {kind} lead would get it (marked [Test], "
        "not counted in results). The form below still holds your unsaved changes.",
        picked=arm.key if arm is not None else "",
    )


@router.post("/markdown/from-html")
def markdown_from_html(
    staff: StaffDep, html: Annotated[str, Form(max_length=200_000)] = ""
) -> JSONResponse:
    """Convert an HTML body to Markdown for the editor, and say what Markdown cannot keep."""
    converted = html_to_markdown(html)
    return JSONResponse(
        {"markdown": converted.markdown, "losses": converted.losses},
        headers={"Cache-Control": "no-store"},
    )
