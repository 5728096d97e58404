"""The shipped sequences in Spanish: every step translated, saying what the English may say.

The save checks (privacy words, links, sizes) run on translations in tests/sequences; these are
the content brief's rules on claims, safety wording and review requests, in Spanish.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from nurture.core.config import get_settings
from nurture.rendering.markdown import markdown_template
from nurture.sequences.files import StepSpec, read_sequence_file, sequence_files
from tests.test_content import _visible_text

# A cure, a guarantee, a mechanism stated as fact, or a finding promised from one visit.
OVERCLAIMS = re.compile(
    r"\bcura(r|n|rá|ción)?\b|\bcurad[oa]|garantiz|\balinea|realinea|endereza|"
    r"en una (sola )?visita|arregla (la|el) (causa|nervio|columna)",
    re.I,
)
HEDGE = re.compile(r"\bpuede(n)?\b|\bpodría(n)?\b")
# Sorting people by how they felt before asking for a review (review gating).
GATING = re.compile(
    r"content[oa]|satisf|disfrut|estrellas?|positiv|si le gustó|buena experiencia|feliz", re.I
)
TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
BUTTONS = re.compile(r"\[\[\s*button\s*:[^|\n]*\|([^\]\n]*)\]\]")

STEPS = [
    (f"{spec.slug}/{step.key}", step)
    for spec in (
        read_sequence_file(p) for p in sequence_files(get_settings().templates_dir / "sequences")
    )
    for step in spec.steps
]


def _spanish(step: StepSpec) -> tuple[str, str, str]:
    """Return the Spanish subject, preheader and body (as HTML) of a shipped step."""
    assert step.translations is not None
    es = step.translations["es"]
    # A field left out would fall back to the English one.
    assert es.subject is not None
    assert es.preheader
    assert es.markdown is not None
    return es.subject, es.preheader, markdown_template(es.markdown)


@pytest.mark.parametrize(("name", "step"), STEPS, ids=[name for name, _ in STEPS])
def test_every_shipped_step_says_the_same_in_spanish(name: str, step: StepSpec) -> None:
    assert step.markdown is not None  # the body form the translations mirror
    assert step.text is None
    assert step.translations is not None
    assert set(step.translations) == {"es"}
    es = step.translations["es"]
    assert es.markdown is not None
    assert (es.html, es.text) == (None, None)
    assert sorted(TAGS.findall(es.subject or "")) == sorted(TAGS.findall(step.subject))
    assert sorted(TAGS.findall(es.markdown)) == sorted(TAGS.findall(step.markdown))
    assert BUTTONS.findall(es.markdown) == BUTTONS.findall(step.markdown)
    for variant in step.variants or []:
        assert "es" in (variant.translations or {}), variant.key


def test_spanish_claims_go_no_further_than_the_evidence() -> None:
    for name, step in STEPS:
        subject, preheader, body = _spanish(step)
        shown = _visible_text(body)
        copy = " ".join([subject, preheader, shown])
        assert not OVERCLAIMS.search(copy), f"{name}: {OVERCLAIMS.search(copy)}"
        for sentence in re.split(r"(?<=[.!?])\s+", shown):
            if "quiropráctic" in sentence.lower():
                assert HEDGE.search(sentence), f"{name}: {sentence}"
        for _, block in re.findall(r"<(p|li)\b[^>]*>(.*?)</\1>", body, re.S):
            text = _visible_text(block).lower()
            if "inofensiv" in text:
                assert "señales de alarma" in text, f"{name}: {text}"


def test_spanish_review_request_asks_everyone_the_same_way() -> None:
    asks = [(name, step) for name, step in STEPS if step.condition == "review_due"]
    assert asks
    for name, step in asks:
        copy = " ".join(_spanish(step))
        assert not GATING.search(copy), f"{name}: {GATING.search(copy)}"


def test_no_two_spanish_booking_reminders_share_a_subject() -> None:
    subjects = Counter(_spanish(step)[0] for _, step in STEPS if step.kind == "booking_reminder")
    assert [s for s, n in subjects.items() if n > 1] == []
