"""Markdown step bodies in sequence files: loaded, checked, stored and exported as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select

from nurture.sequences.checks import spec_problems
from nurture.sequences.export import dump_spec, export_all
from nurture.sequences.files import parse_sequence, tidy_lines
from nurture.sequences.models import Step
from nurture.sequences.service import load_path

FILE = """\
slug: markdown-basics
name: Written in Markdown
audience: chronic
steps:
  - key: welcome
    subject: "Welcome, {{ first_name }}"
    markdown: |
      # Hi {{ first_name }}

      A **short** first read.

      [[button: Book an assessment | {{ booking_url }}]]
  - key: later
    delay_days: 2
    subject: A second email
    html: |
      <p>Still written in HTML.</p>
"""


def test_markdown_round_trips_through_load_and_export(tmp_path: Path, session) -> None:
    source = tmp_path / "in" / "markdown-basics.yml"
    source.parent.mkdir()
    source.write_text(FILE)
    load_path(session, path=source)  # with the studio's checks
    session.commit()
    step = session.scalar(select(Step).where(Step.key == "welcome"))
    assert step.body_markdown is not None
    assert step.body_markdown.startswith("# Hi {{ first_name }}")
    assert '<a href="{{ booking_url }}" class="button">Book an assessment</a>' in step.body_html
    (written,) = export_all(session, folder=tmp_path / "out")
    text = written.read_text()
    assert "  markdown: |\n    # Hi {{ first_name }}\n" in text
    welcome, later = yaml.safe_load(text)["steps"]
    assert "html" not in welcome  # as written: the HTML made from it is not exported
    assert "markdown" not in later
    assert parse_sequence(text) == parse_sequence(FILE)
    assert [r.changed for r in load_path(session, path=written)] == [False]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    markdown: Hi\n    html: <p>Hi</p>\n", "either `markdown` or `html`"),
        ("", "either `markdown` or `html`"),
    ],
)
def test_a_step_has_exactly_one_body(body: str, message: str) -> None:
    text = "slug: s\nname: n\naudience: chronic\nsteps:\n  - key: a\n    subject: S\n" + body
    with pytest.raises(ValidationError, match=message):
        parse_sequence(text)


def test_markdown_problems_are_reported_against_the_markdown() -> None:
    spec = parse_sequence(
        FILE.replace("A **short** first read.", "See [this](http://example.com) {{ diagnosis }}")
    )
    found = spec_problems(spec)
    assert any("Markdown body" in p and "link is not https: http://example.com" in p for p in found)
    assert any("Markdown body, line 3: unknown variable 'diagnosis'" in p for p in found)


def test_browser_line_ends_and_trailing_spaces_export_as_clean_blocks() -> None:
    spec = parse_sequence(FILE)
    body = "# Hi   \r\nfirst line  \r\nsecond line\r\n"
    data = spec.model_dump()
    data["steps"][0]["markdown"] = body
    data["steps"][1]["html"] = "<p>one</p>  \r\n<p>two</p>\r\n"
    tidy = type(spec).model_validate(data)
    assert tidy.steps[0].markdown == "# Hi\nfirst line\\\nsecond line\n"  # a hard break kept
    assert tidy.steps[1].html == "<p>one</p>\n<p>two</p>\n"
    dumped = dump_spec(tidy)
    assert "markdown: |\n" in dumped
    assert "html: |\n" in dumped
    assert "\\r" not in dumped


def test_trailing_spaces_that_matter_in_markdown_are_kept() -> None:
    code = "```\ncode  \nmore\n```\n"
    assert tidy_lines(code, markdown=True) == code  # in code they are part of the text
    assert tidy_lines("a  \n\nb  \n", markdown=True) == "a\n\nb\n"  # here they mean nothing
