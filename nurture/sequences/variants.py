"""A step's A/B test: its variants, what each one sends, and editing them in a draft.

A step with variants is a test of 2 to 4 arms, the control included: every enrollment is
planned with exactly one arm (nurture.enrollments.variants), and the step's own fields are the
base each arm overrides. An arm sets any of subject, preheader, body (Markdown or HTML) and text;
what it leaves unset is the step's. An arm that replaces the body without a text part of its
own gets one derived from its body, never the step's text written for another body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, object_session

from nurture.rendering.markdown import markdown_template
from nurture.sequences import translations
from nurture.sequences.files import MAX_VARIANTS, MIN_VARIANTS, StepSpec, VariantSpec
from nurture.sequences.models import Step, StepVariant

# The keys new arms get, in order: the first two start a test, the others join it.
ARM_KEYS = ("a", "b", "c", "d", "e", "f")
VARIANT_COLUMNS = (
    "key",
    "subject",
    "preheader",
    "body_markdown",
    "body_html",
    "body_text",
    "translations",
)


@dataclass(frozen=True, slots=True)
class StepContent:
    """What one email of a step says: the step's fields with an arm's overrides applied."""

    subject: str
    preheader: str
    body_markdown: str | None
    body_html: str
    body_text: str | None


def find_variant(step: Step, key: str | None) -> StepVariant | None:
    """Return the step's arm called `key`, or None (no key, or no such arm any more)."""
    if key is None:
        return None
    return next((v for v in step.variants if v.key == key), None)


def content_of(step: Step, variant_key: str | None = None) -> StepContent:
    """Return what the step sends to someone planned with `variant_key`.

    A key the step no longer has (an arm removed since the email was planned) sends the
    step's own content: an email that says what the step says rather than no email.
    """
    variant = find_variant(step, variant_key)
    base = StepContent(
        subject=step.subject,
        preheader=step.preheader,
        body_markdown=step.body_markdown,
        body_html=step.body_html,
        body_text=step.body_text,
    )
    return base if variant is None else apply(base, variant)


def overlay(base: StepContent, fields: dict[str, str]) -> StepContent:
    """Return `base` with a translation's (or any file-format) fields over it.

    As for an arm: a new body without a text part of its own gets one derived from it.
    """
    markdown = fields.get("markdown")
    html = markdown_template(markdown) if markdown is not None else fields.get("html")
    new_body = html is not None
    text = fields.get("text")
    return StepContent(
        subject=fields.get("subject", base.subject),
        preheader=fields.get("preheader", base.preheader),
        body_markdown=markdown if new_body else base.body_markdown,
        body_html=html if html is not None else base.body_html,
        body_text=text if text is not None else (None if new_body else base.body_text),
    )


def content_in(step: Step, variant_key: str | None, language: str) -> StepContent | None:
    """Return what the step sends in `language` to someone planned with `variant_key`.

    None when the email has no such translation: the step lacks one, or the arm does (an arm
    says something the step does not, so the step's translation would not say it). The arm's
    translation goes over the step's, which goes over the step's original.
    """
    own = translations.fields_of(step.translations, language)
    if own is None:
        return None
    content = overlay(content_of(step), own)
    variant = find_variant(step, variant_key)
    if variant is None:
        return content
    arm = translations.fields_of(variant.translations, language)
    return None if arm is None else overlay(content, arm)


def has_language(step: Step, variant_key: str | None, language: str) -> bool:
    """Tell whether the email of `variant_key` (or the step) is translated into `language`."""
    if translations.fields_of(step.translations, language) is None:
        return False
    variant = find_variant(step, variant_key)
    return variant is None or translations.fields_of(variant.translations, language) is not None


def apply(base: StepContent, variant: StepVariant) -> StepContent:
    """Return `base` with the fields `variant` sets replaced."""
    new_body = variant.body_html is not None
    return StepContent(
        subject=base.subject if variant.subject is None else variant.subject,
        preheader=base.preheader if variant.preheader is None else variant.preheader,
        body_markdown=variant.body_markdown if new_body else base.body_markdown,
        body_html=variant.body_html if variant.body_html is not None else base.body_html,
        # The step's text describes the step's body: with another body it would not match.
        body_text=variant.body_text
        if variant.body_text is not None
        else (None if new_body else base.body_text),
    )


def spec_dict(variant: StepVariant) -> dict[str, Any]:
    """Describe a stored arm in the file format (a `variants:` entry)."""
    return {
        "key": variant.key,
        "subject": variant.subject,
        "preheader": variant.preheader,
        "markdown": variant.body_markdown,
        "html": variant.body_html if variant.body_markdown is None else None,
        "text": variant.body_text,
        "translations": variant.translations or None,
    }


def variant_of(spec: VariantSpec, *, position: int) -> StepVariant:
    """Build a stored arm from its file entry."""
    return StepVariant(
        key=spec.key,
        position=position,
        subject=spec.subject,
        preheader=spec.preheader,
        body_markdown=spec.markdown,
        body_html=spec.body_html,
        body_text=spec.text,
        translations=translations.stored(spec.translations),
    )


def variants_of(spec: StepSpec) -> list[StepVariant]:
    """Build every stored arm of a step's file entry, in order."""
    return [variant_of(v, position=i) for i, v in enumerate(spec.variants or [], start=1)]


def snapshot(step: Step) -> list[dict[str, Any]]:
    """Return the step's arms as plain data (kept in audit entries, used to undo)."""
    return [{name: getattr(v, name) for name in VARIANT_COLUMNS} for v in step.variants]


def replace(step: Step, arms: list[StepVariant]) -> None:
    """Give a step exactly these arms."""
    session = object_session(step)
    if step.variants and session is not None:
        # The old arms go first: a flush inserts before it deletes, and keys are unique.
        step.variants.clear()
        session.flush()
    step.variants = arms


def restore(step: Step, rows: list[dict[str, Any]]) -> None:
    """Give a step exactly the arms of a snapshot."""
    replace(
        step,
        [
            StepVariant(position=i, **{name: row.get(name) for name in VARIANT_COLUMNS})
            for i, row in enumerate(rows, start=1)
        ],
    )


def _renumber(session: Session, step: Step, arms: list[StepVariant]) -> None:
    for i, arm in enumerate(arms, start=1):
        arm.position = i
    session.flush()
    session.expire(step, ["variants"])


def add_variant(session: Session, step: Step) -> list[StepVariant]:
    """Add an arm to a draft step (two to start a test); return the arms added.

    A new arm starts as the step's subject, so it renders at once and the author edits
    what the test is about; starting a test makes the first arm the control.
    """
    arms = list(step.variants)
    if len(arms) >= MAX_VARIANTS:
        raise ValueError(f"a step has at most {MAX_VARIANTS} variants")
    taken = {v.key for v in arms}
    wanted = MIN_VARIANTS if not arms else 1
    added: list[StepVariant] = []
    for key in (k for k in ARM_KEYS if k not in taken):
        if len(added) == wanted:
            break
        arm = StepVariant(key=key, position=len(arms) + len(added) + 1, subject=step.subject)
        step.variants.append(arm)
        added.append(arm)
    session.flush()
    return added


def update_variant(variant: StepVariant, spec: VariantSpec) -> None:
    """Write validated content into a draft step's arm."""
    variant.key = spec.key
    variant.subject = spec.subject
    variant.preheader = spec.preheader
    variant.body_markdown = spec.markdown
    variant.body_html = spec.body_html
    variant.body_text = spec.text
    if spec.translations is not None:
        variant.translations = translations.stored(spec.translations)


def remove_variant(session: Session, step: Step, variant: StepVariant) -> None:
    """Remove one arm of a test that keeps at least two."""
    arms = list(step.variants)
    if len(arms) <= MIN_VARIANTS:
        raise ValueError(
            f"a test needs at least {MIN_VARIANTS} variants: end the test instead, and the "
            "step sends its own content to everyone"
        )
    arms.remove(variant)
    step.variants.remove(variant)
    session.flush()
    _renumber(session, step, arms)


def end_test(session: Session, step: Step) -> None:
    """Remove every arm: the step sends its own content to everyone again."""
    step.variants.clear()
    session.flush()
