"""A draft step's A/B test: add, edit, preview, test-send and remove its variants."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from nurture.delivery.channels.base import DeliveryError
from nurture.delivery.proofs import send_proof
from nurture.http.deps import SessionDep
from nurture.leads.models import NumbnessType
from nurture.sequences import checks, variants
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepVariant
from nurture.staff import audit
from nurture.studio.sequence_lookup import draft_or_409, draft_step_or_404, sequence_or_404
from nurture.studio.step_form import preview_json
from nurture.studio.variant_form import VariantForm, validate_variant, variant_dict
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()

STEP = "/sequences/{slug}/edit/steps/{step_id}"
VARIANT = STEP + "/variants/{variant_id}"


def _found(session: Session, slug: str, step_id: int) -> tuple[Sequence, SequenceVersion, Step]:
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    return sequence, draft, draft_step_or_404(session, draft, step_id)


def _variant_or_404(step: Step, variant_id: int) -> StepVariant:
    variant = next((v for v in step.variants if v.id == variant_id), None)
    if variant is None:
        raise HTTPException(status_code=404, detail="No such variant of this step.")
    return variant


def _step_url(slug: str, step: Step) -> str:
    return f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}"


def _target(slug: str, draft: SequenceVersion, step: Step, key: str = "") -> str:
    return f"{slug} v{draft.number} {step.key}" + (f" variant {key}" if key else "")


def _variant_page(
    request: Request,
    staff: Any,
    found: tuple[Sequence, SequenceVersion, Step],
    variant: StepVariant,
    form: VariantForm,
    problems: list[checks.Problem],
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    sequence, draft, step = found
    return page(
        request,
        "variant.html",
        staff,
        status_code=status_code,
        title=f"{sequence.name}: step {step.position}, variant {variant.key}",
        sequence=sequence,
        draft=draft,
        step=step,
        variant=variant,
        form=form,
        problems=[p for p in problems if p.severity == "error"],
        warnings=[p for p in problems if p.severity == "warning"],
        types=sorted(NumbnessType),
        variables=checks.VARIABLES,
        **extra,
    )


@router.post(STEP + "/variants")
def add_variant(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Add a variant to the step: two (the first the control) when it starts a test."""
    sequence, draft, step = _found(session, slug, step_id)
    before = variants.snapshot(step)
    try:
        added = variants.add_variant(session, step)
    except ValueError as exc:
        session.rollback()
        return redirect(request, _step_url(slug, step) + "#variants", f"Not added: {exc}.")
    names = " and ".join(v.key for v in added)
    return committed(
        request,
        session,
        staff,
        url=f"{_step_url(slug, step)}/variants/{added[-1].id}",
        flash=f"Variant{'s' if len(added) > 1 else ''} {names} added, each a copy of the step's "
        "subject: change what this one tests.",
        action="step.variant_add",
        target=_target(slug, draft, step, names),
        before={"variants": before},
        after={"variants": variants.snapshot(step)},
    )


@router.post(STEP + "/variants/end")
def end_test(
    slug: str, step_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove every variant: the step sends its own content to everyone again."""
    sequence, draft, step = _found(session, slug, step_id)
    before = variants.snapshot(step)
    variants.end_test(session, step)
    return committed(
        request,
        session,
        staff,
        url=_step_url(slug, step),
        flash="Test ended: the step sends its own content to everyone.",
        action="step.test_end",
        target=_target(slug, draft, step),
        before={"variants": before},
        after={"variants": []},
    )


@router.get(VARIANT, response_class=HTMLResponse)
def variant_form(
    slug: str, step_id: int, variant_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """One variant's editor, with the preview of what it sends."""
    found = _found(session, slug, step_id)
    variant = _variant_or_404(found[2], variant_id)
    form = VariantForm.of(variant)
    problems = checks.check_step(form.source(found[2])).problems
    return _variant_page(request, staff, found, variant, form, problems)


@router.post(VARIANT, response_class=HTMLResponse)
def save_variant(
    slug: str,
    step_id: int,
    variant_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[VariantForm, Form()],
) -> Response:
    """Save a variant if what it sends passes every check; otherwise keep nothing."""
    found = _found(session, slug, step_id)
    _, draft, step = found
    variant = _variant_or_404(step, variant_id)
    spec, checked = validate_variant(form, step, variant)
    if spec is None:
        return _variant_page(request, staff, found, variant, form, checked.problems, 422)
    before = variant_dict(variant)
    variants.update_variant(variant, spec)
    return committed(
        request,
        session,
        staff,
        url=f"{_step_url(slug, step)}/variants/{variant.id}",
        flash=f"Variant {spec.key} saved to the draft.",
        action="step.variant_edit",
        target=_target(slug, draft, step, spec.key),
        before=before,
        after=variant_dict(variant),
    )


@router.post(VARIANT + "/preview")
def preview_variant(
    slug: str,
    step_id: int,
    variant_id: int,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[VariantForm, Form()],
    numbness_type: Annotated[str, Form()] = "unsure",
    fill_text: Annotated[str, Form()] = "",
) -> JSONResponse:
    """Render the variant as typed (not saved) over the saved step, for a sample lead."""
    _, _, step = _found(session, slug, step_id)
    _variant_or_404(step, variant_id)
    if numbness_type not in set(NumbnessType):
        numbness_type = NumbnessType.UNSURE
    source = form.source(step)
    checked = checks.check_step(source, numbness_type)
    return preview_json(checked, source, in_markdown=form.in_markdown, fill_text=bool(fill_text))


@router.post(VARIANT + "/test", response_class=HTMLResponse)
def send_variant_test(
    slug: str,
    step_id: int,
    variant_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Annotated[VariantForm, Form()],
    numbness_type: Annotated[str, Form()] = "unsure",
) -> Response:
    """Send the variant as typed to the signed-in staff member, marked as a test."""
    found = _found(session, slug, step_id)
    _, draft, step = found
    variant = _variant_or_404(step, variant_id)
    kind = numbness_type if numbness_type in set(NumbnessType) else NumbnessType.UNSURE
    spec, checked = validate_variant(form, step, variant, kind)
    problems = checked.problems
    if spec is None or checked.email is None:
        return _variant_page(request, staff, found, variant, form, problems, 422)
    try:
        send_proof(checked.email, to_email=staff.email)
    except DeliveryError as exc:
        problems.append(checks.Problem("html", f"the test was not sent: {exc}"))
        return _variant_page(request, staff, found, variant, form, problems, 502)
    audit.record(
        session,
        staff=staff,
        action="step.variant_test_send",
        target=_target(slug, draft, step, spec.key),
    )
    session.commit()
    return _variant_page(
        request,
        staff,
        found,
        variant,
        form,
        problems,
        flash=f"Test of variant {spec.key} sent to {staff.email} as a {kind} lead would get it "
        "(marked [Test], not counted in results). The form below still holds your unsaved "
        "changes.",
    )


@router.post(VARIANT + "/delete")
def remove_variant(
    slug: str, step_id: int, variant_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove one variant of a test that keeps at least two."""
    _, draft, step = _found(session, slug, step_id)
    variant = _variant_or_404(step, variant_id)
    before = variant_dict(variant)
    back = _step_url(slug, step) + "#variants"
    try:
        variants.remove_variant(session, step, variant)
    except ValueError as exc:
        session.rollback()
        return redirect(request, back, f"Not removed: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Variant {before['key']} removed.",
        action="step.variant_remove",
        target=_target(slug, draft, step, str(before["key"])),
        before=before,
    )
