"""End a step's test: make one variant the step itself, in a draft that staff then publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from nurture.sequences import drafts, variants
from nurture.sequences.models import Sequence, SequenceVersion, Step
from nurture.sequences.service import live_version

# The content an arm may override, named alike on the step and the arm.
CONTENT = ("subject", "preheader", "body_markdown", "body_html", "body_text")


class WinnerConflict(ValueError):
    """The draft or the live version no longer has the test the action was asked about."""


@dataclass(frozen=True, slots=True)
class Winner:
    """The draft a variant was made the step of, and the step before and after."""

    draft: SequenceVersion
    step: Step
    before: dict[str, Any]
    after: dict[str, Any]


def _content(step: Step) -> dict[str, Any]:
    return {name: getattr(step, name) for name in CONTENT}


def make_winner(session: Session, *, sequence: Sequence, step_key: str, variant_key: str) -> Winner:
    """Make `variant_key` the content of step `step_key` in the draft and drop its variants.

    The draft is the sequence's draft, started from the live version when there is none.
    Nothing changes for anyone until that draft is published. A draft that already existed
    must still have the step with this variant: otherwise someone changed the test there, and
    the action is refused rather than guessing which edit should win.
    """
    live = live_version(session, sequence.id)
    live_step = next((s for s in live.steps if s.key == step_key), None) if live else None
    if live_step is None or not live_step.variants:
        raise WinnerConflict(f"The live version has no variant test on step '{step_key}'.")
    tested = variants.find_variant(live_step, variant_key)
    if tested is None:
        raise WinnerConflict(f"Step '{step_key}' has no variant '{variant_key}' in its test.")
    existed = drafts.draft_of(session, sequence) is not None
    draft = drafts.ensure_draft(session, sequence)
    step = next((s for s in draft.steps if s.key == step_key), None)
    if step is None:
        raise WinnerConflict(
            f"Draft v{draft.number} no longer has step '{step_key}'; nothing was changed. "
            "Open the draft to see its steps, or discard it and try again."
        )
    chosen = variants.find_variant(step, variant_key)
    if chosen is None and existed:
        what = "its variants were changed" if step.variants else "it has no variants any more"
        raise WinnerConflict(
            f"In draft v{draft.number}, step '{step_key}' has no variant '{variant_key}' "
            f"({what}); nothing was changed. Open the draft to decide there."
        )
    # A fresh copy of the live version is the tested content; an existing draft's variant
    # keeps the edits made to it there.
    content = variants.apply(variants.content_of(step), chosen or tested)
    before = {
        **_content(step),
        "translations": step.translations,
        "variants": variants.snapshot(step),
    }
    for name in CONTENT:
        setattr(step, name, getattr(content, name))
    step.translations = _winning_translations(step.translations, (chosen or tested).translations)
    variants.end_test(session, step)
    return Winner(draft=draft, step=step, before=before, after=_content(step))


_BODY = ("markdown", "html", "text")


def _winning_translations(
    step: dict[str, dict[str, str]] | None, arm: dict[str, dict[str, str]] | None
) -> dict[str, dict[str, str]] | None:
    """Return the step's translations once an arm is its content: the arm's over the step's.

    A language the arm was not translated into is dropped: its readers got the original of
    the winning arm, and the step's old translation would say what the losing content said.
    """
    merged: dict[str, dict[str, str]] = {}
    for language, fields in (step or {}).items():
        own = (arm or {}).get(language)
        if own is None:
            continue
        kept = {k: v for k, v in fields.items() if not (k in _BODY and _new_body(own))}
        merged[language] = {**kept, **own}
    return merged or None


def _new_body(fields: dict[str, str]) -> bool:
    return "markdown" in fields or "html" in fields
