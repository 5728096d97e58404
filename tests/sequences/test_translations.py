"""Translations of steps and variants in sequence files: validated, checked, stored, exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from nurture.sequences import drafts, history, variants, winner
from nurture.sequences.checks import spec_problems
from nurture.sequences.export import dump_spec
from nurture.sequences.files import parse_sequence
from nurture.sequences.models import Sequence, Step
from nurture.sequences.service import live_version, load_path, spec_of

FILE = """\
slug: translated
name: A translated sequence
audience: chronic
steps:
  - key: welcome
    subject: Welcome, {{ first_name }}
    preheader: What to expect
    markdown: |
      # Hi {{ first_name }}

      A first read.
    text: |
      Hi {{ first_name }}, a first read.
    translations:
      es:
        subject: Bienvenido, {{ first_name }}
        markdown: |
          # Hola {{ first_name }}

          Una primera lectura.
    variants:
      - key: a
        subject: Welcome, {{ first_name }}
      - key: b
        subject: Hello
        translations:
          es:
            subject: Hola
  - key: later
    delay_days: 2
    subject: A second email
    html: |
      <p>Only in English.</p>
"""


def _with(translations: str) -> str:
    return (
        "slug: s\nname: n\naudience: chronic\nsteps:\n  - key: one\n    subject: S\n"
        "    markdown: Hi\n    translations:\n" + translations
    )


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("      xx-!!:\n        subject: Hola\n", "step 'one', translations: 'xx-!!' is not a"),
        ("      es:\n        colour: red\n", "step 'one', translation es: unknown field colour"),
        ("      es: {}\n", "step 'one', translation es: it translates nothing"),
        (
            "      es:\n        markdown: Hola\n        html: <p>Hola</p>\n",
            "step 'one', translation es: write the body as either",
        ),
    ],
)
def test_a_bad_translation_is_refused_naming_the_step_and_language(
    entries: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_sequence(_with(entries))


def test_a_variants_bad_translation_names_the_variant() -> None:
    text = FILE.replace("            subject: Hola\n", "            sujeto: Hola\n")
    with pytest.raises(ValidationError, match="step 'welcome', variant 'b', translation es"):
        parse_sequence(text)


def test_translations_are_checked_like_the_original_and_named() -> None:
    spec = parse_sequence(
        FILE.replace("Bienvenido, {{ first_name }}", "Su ciática, {{ first_name }}").replace(
            "subject: Hola\n", "subject: Hola {{ apellido }}\n"
        )
    )
    found = spec_problems(spec)
    assert any(p.startswith("step 1 (welcome), Spanish: Subject: names a condition") for p in found)
    assert any(
        p.startswith("step 1 (welcome), variant b, Spanish: Subject, line 1: unknown variable")
        for p in found
    )
    assert not [p for p in found if "Spanish" not in p]  # the English original is fine


def test_translations_round_trip_and_are_copied_by_drafts_history_and_winner(
    session, tmp_path: Path
) -> None:
    (tmp_path / "translated.yml").write_text(FILE)
    load_path(session, path=tmp_path / "translated.yml")
    sequence = session.scalar(select(Sequence).where(Sequence.slug == "translated"))
    live = live_version(session, sequence.id)
    exported = dump_spec(spec_of(live))
    assert parse_sequence(exported) == parse_sequence(FILE)
    assert "  translations:\n    es:\n      subject: Bienvenido" in exported
    assert "translations" not in exported.split("- key: later")[1]  # none: nothing written
    draft = drafts.ensure_draft(session, sequence)
    assert draft.steps[0].translations == live.steps[0].translations
    assert draft.steps[0].variants[1].translations == {"es": {"subject": "Hola"}}
    session.commit()
    restored, _ = history.restore_version_as_draft(session, version=live, discard_draft=True)
    assert restored.steps[0].translations["es"]["subject"] == "Bienvenido, {{ first_name }}"
    removed = drafts.step_snapshot(restored.steps[0])
    drafts.remove_step(session, restored, restored.steps[0])
    back = drafts.restore_step(session, restored, removed)
    assert back.translations == live.steps[0].translations
    assert back.variants[1].translations == {"es": {"subject": "Hola"}}
    session.commit()
    made = winner.make_winner(session, sequence=sequence, step_key="welcome", variant_key="b")
    # b in Spanish is the step's Spanish with b's subject over it.
    assert made.step.translations["es"]["subject"] == "Hola"
    assert "Una primera lectura" in made.step.translations["es"]["markdown"]


def test_what_each_language_sends_and_what_falls_back(session, tmp_path: Path) -> None:
    (tmp_path / "translated.yml").write_text(FILE)
    load_path(session, path=tmp_path / "translated.yml")
    welcome, later = session.scalars(select(Step).order_by(Step.position)).all()
    spanish = variants.content_in(welcome, None, "es")
    assert spanish is not None
    assert spanish.subject == "Bienvenido, {{ first_name }}"
    assert spanish.preheader == "What to expect"  # a field a translation leaves out
    assert "Una primera lectura" in spanish.body_html
    assert spanish.body_text is None  # derived from the Spanish body, not the English text
    arm_b = variants.content_in(welcome, "b", "es")
    assert arm_b is not None
    assert (arm_b.subject, arm_b.body_html) == ("Hola", spanish.body_html)
    assert variants.content_in(welcome, "a", "es") is None  # arm a has no Spanish
    assert variants.content_in(later, None, "es") is None
    assert variants.content_in(welcome, None, "fr") is None
