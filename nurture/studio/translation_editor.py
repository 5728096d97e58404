"""The language tab of a step, a variant or a broadcast: its translation beside the original.

The page shows the original and the translation side by side, each as the email a patient
gets (the translation in its own language's layout), saves the translation only when it
passes the same checks as the original, sends a test in that language and removes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from nurture.core import languages
from nurture.delivery.channels.base import DeliveryError
from nurture.delivery.proofs import send_proof
from nurture.http.deps import RowId, SessionDep
from nurture.http.errors import field_errors
from nurture.sequences import checks, translations
from nurture.sequences.translations import TranslationSpec, language_name
from nurture.staff import audit
from nurture.studio.step_form import preview_json
from nurture.studio.translation_targets import (
    Target,
    broadcast_target,
    language_or_404,
    step_target,
    variant_target,
)
from nurture.studio.web import StaffDep, committed, page, studio_router

router = studio_router()

STEP = "/sequences/{slug}/edit/steps/{step_id}"
VARIANT = STEP + "/variants/{variant_id}"
BROADCAST = "/broadcasts/{broadcast_id}"
LANGUAGE = "/languages/{language}"


class TranslationForm(BaseModel):
    """The translation as typed: an empty field keeps the original's."""

    subject: str = ""
    preheader: str = ""
    markdown: str = ""
    text: str = ""
    # Ticked: this language sends no preheader at all (an empty field means "the original's").
    no_preheader: str = ""

    @classmethod
    def of(cls, stored: dict[str, str] | None) -> TranslationForm:
        """Return the form for stored fields: a stored empty preheader is "no preheader"."""
        fields = dict(stored or {})
        none = fields.get("preheader") == ""
        return cls(**fields, no_preheader="1" if none else "")

    def fields(self) -> dict[str, str]:
        """Return the fields that were filled in, as a translation stores them."""
        typed = self.model_dump(exclude={"no_preheader"})
        found = {k: v for k, v in typed.items() if v.strip()}
        if self.no_preheader:
            found["preheader"] = ""
        return found


def _render(
    request: Request,
    staff: Any,
    target: Target,
    language: str,
    form: TranslationForm,
    *,
    problems: list[str] | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    original = checks.check_step(target.original)
    checked = _checked(target, language, form)
    extra: dict[str, Any] = {"flash": flash} if flash else {}
    return page(
        request,
        "translation.html",
        staff,
        status_code=status_code,
        title=f"{target.title} in {language_name(language)}",
        target=target,
        language=language,
        language_name=language_name(language),
        default_name=language_name(languages.default()),
        form=form,
        saved=translations.fields_of(target.stored, language) is not None,
        original=original.email,
        translated=checked.email if checked else None,
        problems=problems
        if problems is not None
        else [str(p) for p in checked.errors]
        if checked
        else [],
        **extra,
    )


def _checked(target: Target, language: str, form: TranslationForm) -> checks.Checked | None:
    """Check the translation as typed, as it would send; None when there is nothing to check."""
    fields = form.fields()
    if target.base is None or not fields:
        return None
    try:
        spec = TranslationSpec.model_validate(fields)
    except ValidationError:
        return None
    return checks.check_step(checks.translated(target.base, spec), language=language)


def _preview(target: Target, language: str, form: TranslationForm) -> JSONResponse:
    """Answer the live preview: the translation as typed, checked and rendered, not saved."""
    if target.base is None:
        return JSONResponse({"problems": [{"message": target.blocked, "severity": "error"}]})
    if not form.fields():
        return JSONResponse({"problems": []})  # nothing written yet: nothing to show
    try:
        spec = TranslationSpec.model_validate(form.fields())
    except ValidationError as exc:
        found = [f"{k}: {v}" for k, v in field_errors(exc.errors()).items()]
        return JSONResponse({"problems": [{"message": m, "severity": "error"} for m in found]})
    source = checks.translated(target.base, spec)
    checked = checks.check_step(source, language=language)
    return preview_json(checked, source, in_markdown=False, fill_text=False)


def _form_of(target: Target, language: str) -> TranslationForm:
    return TranslationForm.of(translations.fields_of(target.stored, language))


def _save(
    request: Request,
    staff: Any,
    session: Session,
    target: Target,
    language: str,
    form: TranslationForm,
) -> Response:
    if target.base is None:
        return _render(
            request, staff, target, language, form, problems=[target.blocked], status_code=409
        )
    fields = form.fields()
    if not target.has_text:
        fields.pop("text", None)
    try:
        spec = TranslationSpec.model_validate(fields)
    except ValidationError as exc:
        found = [f"{k}: {v}" for k, v in field_errors(exc.errors()).items()]
        return _render(request, staff, target, language, form, problems=found, status_code=422)
    checked = checks.check_step(checks.translated(target.base, spec), language=language)
    if checked.errors:
        found = [str(p) for p in checked.errors]
        return _render(request, staff, target, language, form, problems=found, status_code=422)
    before = target.stored
    try:
        target.store({**(target.stored or {}), language: spec.model_dump(exclude_none=True)})
    except ValueError as exc:
        return _render(request, staff, target, language, form, problems=[str(exc)], status_code=409)
    return committed(
        request,
        session,
        staff,
        url=target.url,
        flash=f"{language_name(language)} version saved.",
        action="translation.edit",
        target=target.audit_target,
        before={"translations": before},
        after={"translations": target.stored},
    )


def _remove(
    request: Request, staff: Any, session: Session, target: Target, language: str
) -> Response:
    before = target.stored
    left = {k: v for k, v in (target.stored or {}).items() if k != language}
    try:
        target.store(left or None)
    except ValueError as exc:
        form = _form_of(target, language)
        return _render(request, staff, target, language, form, problems=[str(exc)], status_code=409)
    return committed(
        request,
        session,
        staff,
        url=target.back,
        flash=f"{language_name(language)} version removed: people who read it get the original.",
        action="translation.remove",
        target=target.audit_target,
        before={"translations": before},
        after={"translations": target.stored},
    )


def _test(
    request: Request,
    staff: Any,
    session: Session,
    target: Target,
    language: str,
    form: TranslationForm,
) -> Response:
    checked = _checked(target, language, form)
    if checked is None or checked.email is None or checked.errors:
        found = [str(p) for p in checked.errors] if checked else ["Write the translation first."]
        return _render(request, staff, target, language, form, problems=found, status_code=422)
    try:
        send_proof(checked.email, to_email=staff.email)
    except DeliveryError as exc:
        found = [f"The test was not sent: {exc}"]
        return _render(request, staff, target, language, form, problems=found, status_code=502)
    audit.record(session, staff=staff, action="translation.test_send", target=target.audit_target)
    session.commit()
    return _render(
        request,
        staff,
        target,
        language,
        form,
        flash=f"Test in {language_name(language)} sent to {staff.email} (marked [Test]). "
        "The form below still holds your unsaved changes.",
    )


Typed = Annotated[TranslationForm, Form()]


@router.get(STEP + LANGUAGE, response_class=HTMLResponse)
def step_language(
    slug: str, step_id: RowId, language: str, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """A step's translation beside the original."""
    target = step_target(session, slug, step_id, language_or_404(language))
    return _render(request, staff, target, language, _form_of(target, language))


@router.post(STEP + LANGUAGE, response_class=HTMLResponse)
def save_step_language(
    slug: str,
    step_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Save a step's translation if it passes every check."""
    target = step_target(session, slug, step_id, language_or_404(language))
    return _save(request, staff, session, target, language, form)


@router.post(STEP + LANGUAGE + "/preview")
def preview_step_language(
    slug: str,
    step_id: RowId,
    language: str,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> JSONResponse:
    """Render the step's translation as typed, for the live preview beside it."""
    target = step_target(session, slug, step_id, language_or_404(language))
    return _preview(target, language, form)


@router.post(STEP + LANGUAGE + "/test", response_class=HTMLResponse)
def test_step_language(
    slug: str,
    step_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Send the step's translation as typed to the signed-in staff member."""
    target = step_target(session, slug, step_id, language_or_404(language))
    return _test(request, staff, session, target, language, form)


@router.post(STEP + LANGUAGE + "/delete", response_class=HTMLResponse)
def remove_step_language(
    slug: str, step_id: RowId, language: str, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove a step's translation: its readers get the original."""
    target = step_target(session, slug, step_id, language_or_404(language))
    return _remove(request, staff, session, target, language)


@router.get(VARIANT + LANGUAGE, response_class=HTMLResponse)
def variant_language(
    slug: str,
    step_id: RowId,
    variant_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
) -> HTMLResponse:
    """A variant's translation beside the variant."""
    target = variant_target(session, slug, step_id, variant_id, language_or_404(language))
    return _render(request, staff, target, language, _form_of(target, language))


@router.post(VARIANT + LANGUAGE, response_class=HTMLResponse)
def save_variant_language(
    slug: str,
    step_id: RowId,
    variant_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Save a variant's translation if it passes every check."""
    target = variant_target(session, slug, step_id, variant_id, language_or_404(language))
    return _save(request, staff, session, target, language, form)


@router.post(VARIANT + LANGUAGE + "/preview")
def preview_variant_language(
    slug: str,
    step_id: RowId,
    variant_id: RowId,
    language: str,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> JSONResponse:
    """Render the variant's translation as typed, for the live preview beside it."""
    target = variant_target(session, slug, step_id, variant_id, language_or_404(language))
    return _preview(target, language, form)


@router.post(VARIANT + LANGUAGE + "/test", response_class=HTMLResponse)
def test_variant_language(
    slug: str,
    step_id: RowId,
    variant_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Send the variant's translation as typed to the signed-in staff member."""
    target = variant_target(session, slug, step_id, variant_id, language_or_404(language))
    return _test(request, staff, session, target, language, form)


@router.post(VARIANT + LANGUAGE + "/delete", response_class=HTMLResponse)
def remove_variant_language(
    slug: str,
    step_id: RowId,
    variant_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
) -> Response:
    """Remove a variant's translation."""
    target = variant_target(session, slug, step_id, variant_id, language_or_404(language))
    return _remove(request, staff, session, target, language)


@router.get(BROADCAST + LANGUAGE, response_class=HTMLResponse)
def broadcast_language(
    broadcast_id: RowId, language: str, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """A broadcast's translation beside the original."""
    target = broadcast_target(session, broadcast_id, language_or_404(language))
    return _render(request, staff, target, language, _form_of(target, language))


@router.post(BROADCAST + LANGUAGE, response_class=HTMLResponse)
def save_broadcast_language(
    broadcast_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Save a draft broadcast's translation if it passes every check."""
    target = broadcast_target(session, broadcast_id, language_or_404(language))
    return _save(request, staff, session, target, language, form)


@router.post(BROADCAST + LANGUAGE + "/preview")
def preview_broadcast_language(
    broadcast_id: RowId,
    language: str,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> JSONResponse:
    """Render the broadcast's translation as typed, for the live preview beside it."""
    target = broadcast_target(session, broadcast_id, language_or_404(language))
    return _preview(target, language, form)


@router.post(BROADCAST + LANGUAGE + "/test", response_class=HTMLResponse)
def test_broadcast_language(
    broadcast_id: RowId,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    form: Typed,
) -> Response:
    """Send the broadcast's translation as typed to the signed-in staff member."""
    target = broadcast_target(session, broadcast_id, language_or_404(language))
    return _test(request, staff, session, target, language, form)


@router.post(BROADCAST + LANGUAGE + "/delete", response_class=HTMLResponse)
def remove_broadcast_language(
    broadcast_id: RowId, language: str, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Remove a draft broadcast's translation."""
    target = broadcast_target(session, broadcast_id, language_or_404(language))
    return _remove(request, staff, session, target, language)
