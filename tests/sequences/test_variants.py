"""A step's A/B test in sequence files: validated, checked, exported, copied with drafts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select

from nurture.sequences import drafts, history, variants
from nurture.sequences.checks import spec_problems
from nurture.sequences.export import dump_spec, export_all
from nurture.sequences.files import StepSpec, parse_sequence
from nurture.sequences.models import Sequence, Step, StepVariant
from nurture.sequences.service import live_version, load_path, publish, spec_of

FILE = """\
slug: tested
name: A step with a test
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
    variants:
      - key: a
        subject: Welcome, {{ first_name }}
      - key: short
        subject: Hello
        preheader: ''
      - key: new-body
        markdown: |
          # Another opening

          [[button: Book an assessment | {{ booking_url }}]]
  - key: later
    delay_days: 2
    subject: A second email
    html: |
      <p>Still written in HTML.</p>
"""

ARM = "        subject: Hi\n"


def _step(variants_yaml: str) -> str:
    return (
        "slug: s\nname: n\naudience: chronic\nsteps:\n  - key: one\n    subject: S\n"
        "    markdown: Hi\n    variants:\n" + variants_yaml
    )


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("      - key: a\n" + ARM, "a test has 2 to 4 variants, not 1"),
        ("".join(f"      - key: {k}\n" + ARM for k in "abcde"), "2 to 4 variants, not 5"),
        ("      - key: a\n" + ARM + "      - key: a\n" + ARM, "unique; repeated: a"),
        ("      - key: a\n      - key: b\n" + ARM, "variant 'a' changes nothing"),
        (
            "      - key: a\n        markdown: Hi\n        html: <p>Hi</p>\n      - key: b\n" + ARM,
            "variant 'a': write its body as either `markdown` or `html`, not both",
        ),
        ("      - key: Big B\n" + ARM + "      - key: b\n" + ARM, "a variant key is 1 to 40"),
        ("      - key: a\n        colour: red\n      - key: b\n" + ARM, "Extra inputs"),
    ],
)
def test_a_test_has_two_to_four_distinct_arms_that_each_change_something(
    entries: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_sequence(_step(entries))


def test_arms_are_checked_like_steps_and_named() -> None:
    text = FILE.replace("        subject: Hello\n", "        subject: Hello {{ diagnosis }}\n")
    text = text.replace(
        "          # Another opening\n",
        "          # Another opening {{ ''.__class__.__mro__ }}\n\n"
        "          See [this](http://example.com)\n",
    )
    found = spec_problems(parse_sequence(text))
    assert any(
        p.startswith("step 1 (welcome), variant short: Subject") and "'diagnosis'" in p
        for p in found
    )
    assert any(
        p.startswith("step 1 (welcome), variant new-body: Markdown body")
        and "link is not https: http://example.com" in p
        for p in found
    )
    assert any("variant new-body" in p and "Python internals" in p for p in found)
    assert not any("variant a:" in p for p in found)


def test_a_problem_of_the_step_is_named_once_not_per_arm() -> None:
    found = spec_problems(parse_sequence(FILE.replace("A first read.", "{{ nope }}")))
    assert [p for p in found if "'nope'" in p] == [
        next(p for p in found if p.startswith("step 1 (welcome): Markdown body"))
    ]


def test_an_arm_past_the_render_limits_is_refused_with_its_name() -> None:
    text = FILE.replace("        preheader: ''\n", '        text: "{{ 7**(10**7) }}"\n')
    (problem,) = spec_problems(parse_sequence(text))
    assert problem.startswith("step 1 (welcome), variant short:")
    assert "too large" in problem


def test_variants_round_trip_through_load_and_export(tmp_path: Path, session) -> None:
    source = tmp_path / "in" / "tested.yml"
    source.parent.mkdir()
    source.write_text(FILE)
    load_path(session, path=source)
    session.commit()
    step = session.scalar(select(Step).where(Step.key == "welcome"))
    assert [v.key for v in step.variants] == ["a", "short", "new-body"]
    new_body = step.variants[2]
    assert new_body.subject is None
    assert new_body.body_markdown is not None
    assert 'class="button"' in (new_body.body_html or "")
    (written,) = export_all(session, folder=tmp_path / "out")
    text = written.read_text()
    assert (
        "  variants:\n  - key: a\n    subject: Welcome, {{ first_name }}\n"
        "  - key: short\n    subject: Hello\n    preheader: ''\n"
        "  - key: new-body\n    markdown: |\n      # Another opening\n"
    ) in text
    arms = yaml.safe_load(text)["steps"][0]["variants"]
    assert "html" not in arms[2]  # only what the arm sets, as written
    assert "variants" not in yaml.safe_load(text)["steps"][1]
    assert parse_sequence(text) == parse_sequence(FILE)
    assert [r.changed for r in load_path(session, path=written)] == [False]


def test_what_each_arm_sends(session, tmp_path: Path) -> None:
    _sequence(session, tmp_path)
    step = session.scalar(select(Step).where(Step.key == "welcome"))
    own = variants.content_of(step, None)
    assert own.subject == "Welcome, {{ first_name }}"
    short = variants.content_of(step, "short")
    assert (short.subject, short.preheader) == ("Hello", "")
    assert short.body_html == step.body_html
    assert short.body_text == step.body_text
    body = variants.content_of(step, "new-body")
    assert body.subject == step.subject
    assert "Another opening" in body.body_html
    assert body.body_text is None  # derived from its own body, not the step's text
    assert variants.content_of(step, "gone") == own  # an arm removed since: the step itself


def _sequence(session, folder: Path) -> Sequence:  # type: ignore[no-untyped-def]
    (folder / "tested.yml").write_text(FILE)
    load_path(session, path=folder / "tested.yml")
    session.commit()
    return session.scalar(select(Sequence).where(Sequence.slug == "tested"))


def test_drafts_copy_keep_and_publish_variants(session, tmp_path: Path) -> None:
    sequence = _sequence(session, tmp_path)
    live = live_version(session, sequence.id)
    draft = drafts.ensure_draft(session, sequence)
    step = draft.steps[0]
    assert [v.key for v in step.variants] == ["a", "short", "new-body"]
    assert {v.id for v in step.variants}.isdisjoint({v.id for v in live.steps[0].variants})
    # The step editor saves the step's own fields; the test stays as it was.
    own = spec_of(draft).steps[0].model_dump() | {"subject": "Welcome back", "variants": None}
    drafts.update_step(step, StepSpec.model_validate(own))
    session.flush()
    session.expire(step, ["variants"])
    assert len(step.variants) == 3
    variants.update_variant(
        step.variants[1], spec_of(draft).steps[0].variants[1].model_copy(update={"subject": "Hey"})
    )
    session.flush()
    lines = drafts.diff(session, draft)
    assert "-    subject: Hello" in lines
    assert "+    subject: Hey" in lines
    publish(session, version=draft)
    session.commit()
    assert [v.subject for v in live_version(session, sequence.id).steps[0].variants][1] == "Hey"


def test_a_file_with_variants_replaces_the_drafts_arms(session, tmp_path: Path) -> None:
    sequence = _sequence(session, tmp_path)
    draft = drafts.ensure_draft(session, sequence)
    spec = spec_of(draft).steps[0]
    arms = [v.model_copy(update={"subject": f"New {v.key}"}) for v in spec.variants or []]
    drafts.update_step(draft.steps[0], spec.model_copy(update={"variants": arms[:2]}))
    session.commit()
    session.expire_all()
    assert [(v.key, v.subject) for v in draft.steps[0].variants] == [
        ("a", "New a"),
        ("short", "New short"),
    ]
    assert session.scalar(select(StepVariant).where(StepVariant.key == "new-body")) is not None


def test_history_duplicate_and_restore_copy_variants(session, tmp_path: Path) -> None:
    sequence = _sequence(session, tmp_path)
    copy = history.duplicate_sequence(session, source=sequence, slug="tested-copy", name="Copy")
    assert [v.key for v in copy.steps[0].variants] == ["a", "short", "new-body"]
    old = live_version(session, sequence.id)
    restored, _ = history.restore_version_as_draft(session, version=old)
    assert dump_spec(spec_of(restored)) == dump_spec(spec_of(old))
    assert "variant" not in "".join(history.diff_against_live(session, restored))


def test_removing_a_step_and_undoing_it_brings_its_variants_back(session, tmp_path: Path) -> None:
    sequence = _sequence(session, tmp_path)
    draft = drafts.ensure_draft(session, sequence)
    step = draft.steps[0]
    snapshot = drafts.step_snapshot(step)
    drafts.remove_step(session, draft, step)
    session.commit()
    assert session.scalars(select(StepVariant)).all() != []  # the live version's arms
    restored = drafts.restore_step(session, draft, snapshot)
    session.commit()
    assert [v.key for v in restored.variants] == ["a", "short", "new-body"]
    assert dump_spec(spec_of(draft)) == dump_spec(spec_of(live_version(session, sequence.id)))


def test_adding_and_removing_arms_in_a_draft(session, tmp_path: Path) -> None:
    sequence = _sequence(session, tmp_path)
    draft = drafts.ensure_draft(session, sequence)
    plain = draft.steps[1]
    added = variants.add_variant(session, plain)
    assert [(v.key, v.subject) for v in added] == [("a", plain.subject), ("b", plain.subject)]
    variants.add_variant(session, plain)
    variants.add_variant(session, plain)
    with pytest.raises(ValueError, match="at most 4"):
        variants.add_variant(session, plain)
    variants.remove_variant(session, plain, plain.variants[0])
    assert [(v.key, v.position) for v in plain.variants] == [("b", 1), ("c", 2), ("d", 3)]
    variants.remove_variant(session, plain, plain.variants[0])
    with pytest.raises(ValueError, match="at least 2 variants: end the test"):
        variants.remove_variant(session, plain, plain.variants[0])
    variants.end_test(session, plain)
    session.commit()
    assert plain.variants == []
    assert spec_of(draft).steps[1].variants is None
