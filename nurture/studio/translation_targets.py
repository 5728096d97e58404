"""What a language tab edits: a draft step, a variant of one, or a draft broadcast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session

from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.broadcasts.service import source_of
from nurture.core import languages
from nurture.sequences import checks, translations
from nurture.sequences.models import Step, StepVariant
from nurture.sequences.translations import TranslationSpec, language_name
from nurture.studio.sequence_lookup import draft_or_409, draft_step_or_404, sequence_or_404
from nurture.studio.step_form import StepForm
from nurture.studio.web import PREFIX


@dataclass
class Target:
    """What is being translated: where it lives, what it says, and how to store its translation."""

    title: str
    back: str  # the original's page
    url: str  # this page
    audit_target: str
    original: checks.StepSource  # what the original sends
    base: checks.StepSource | None  # what the translation goes over; None: translate first ...
    blocked: str  # ... and why
    stored: dict[str, dict[str, str]] | None
    store: Callable[[dict[str, dict[str, str]] | None], None]
    has_text: bool = True  # a broadcast's text part is always derived from its body


def language_or_404(language: str) -> str:
    if language not in languages.offered()[1:]:
        raise HTTPException(404, "The clinic does not offer that language.")
    return language


def step_target(session: Session, slug: str, step_id: int, language: str) -> Target:
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    step = draft_step_or_404(session, draft, step_id)
    original = StepForm.of(step).source()

    def store(value: dict[str, dict[str, str]] | None) -> None:
        step.translations = value

    return Target(
        title=f"Step {step.position}: {step.key}",
        back=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}",
        url=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}/languages/{language}",
        audit_target=f"{slug} v{draft.number} {step.key} {language}",
        original=original,
        base=original,
        blocked="",
        stored=step.translations,
        store=store,
    )


def variant_target(
    session: Session, slug: str, step_id: int, variant_id: int, language: str
) -> Target:
    sequence = sequence_or_404(session, slug)
    draft = draft_or_409(session, sequence)
    step: Step = draft_step_or_404(session, draft, step_id)
    arm: StepVariant | None = next((v for v in step.variants if v.id == variant_id), None)
    if arm is None:
        raise HTTPException(404, "No such variant of this step.")
    source = StepForm.of(step).source()
    own = translations.fields_of(step.translations, language)
    spec = TranslationSpec.model_validate(own) if own else None

    def store(value: dict[str, dict[str, str]] | None) -> None:
        arm.translations = value

    return Target(
        title=f"Variant {arm.key} of step {step.position}: {step.key}",
        back=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}/variants/{arm.id}",
        url=f"{PREFIX}/sequences/{slug}/edit/steps/{step.id}/variants/{arm.id}/languages/{language}",
        audit_target=f"{slug} v{draft.number} {step.key} variant {arm.key} {language}",
        original=checks.with_variant(source, _variant_spec(arm)),
        base=checks.translated(source, spec) if spec is not None else None,
        blocked=f"Translate step {step.position} into {language_name(language)} first: this "
        "variant's translation changes only what the variant changes.",
        stored=arm.translations,
        store=store,
    )


def _variant_spec(arm: StepVariant) -> Any:
    from nurture.sequences.files import VariantSpec
    from nurture.sequences.variants import spec_dict

    return VariantSpec.model_construct(**spec_dict(arm))


def broadcast_target(session: Session, broadcast_id: int, language: str) -> Target:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise HTTPException(404, "No such broadcast.")
    original = source_of(broadcast.subject, broadcast.preheader, broadcast.body_markdown)

    def store(value: dict[str, dict[str, str]] | None) -> None:
        if broadcast.status != BroadcastStatus.DRAFT:
            raise ValueError("Only a draft broadcast can change; this one is scheduled or sent.")
        broadcast.translations = value

    return Target(
        title=f"Broadcast: {broadcast.name}",
        back=f"{PREFIX}/broadcasts/{broadcast.id}",
        url=f"{PREFIX}/broadcasts/{broadcast.id}/languages/{language}",
        audit_target=f"broadcast {broadcast.id} {language}",
        original=original,
        base=original,
        blocked="",
        stored=broadcast.translations,
        store=store,
        has_text=False,
    )
