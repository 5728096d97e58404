"""Moving HTML steps to Markdown: every shipped step converts and keeps its links and variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nurture.rendering.markdown import markdown_template
from nurture.sequences.checks import StepSource, check_step, render_for
from nurture.sequences.to_markdown import html_to_markdown

SEQUENCES = Path(__file__).parents[2] / "templates" / "emails" / "sequences"
_HREF = re.compile(r'href="([^"]*)"')
# Signed links (preferences, unsubscribe) carry the second they were made; compare the rest.
_SIGNED = re.compile(r"[\w-]+\.[\w-]+\.[\w-]+$")
_SIGNED_ANYWHERE = re.compile(r"/[\w-]{6,}\.[\w-]{4,}\.[\w-]{10,}")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def _bodies() -> list[tuple[str, dict[str, str]]]:
    found = []
    for path in sorted(SEQUENCES.glob("*.yml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for step in spec["steps"]:
            for i, body in enumerate([step, *(step.get("variants") or [])]):
                if body.get("html") or body.get("markdown"):
                    found.append((f"{path.stem}/{step['key']}/{i}", body))
    return found


def _html_steps() -> list[tuple[str, str]]:
    """Every shipped body as HTML: as written, or as its Markdown makes it."""
    return [
        (name, body.get("html") or markdown_template(body["markdown"])) for name, body in _bodies()
    ]


HTML_STEPS = _html_steps()


def _words(text: str) -> list[str]:
    return _SIGNED_ANYWHERE.sub("(signed)", text).split()


def _links(html: str) -> list[str]:
    return [_SIGNED.sub("(signed)", href) for href in _HREF.findall(html)]


def test_there_are_shipped_steps_to_convert() -> None:
    assert len(HTML_STEPS) >= 20


def test_the_shipped_sequences_are_written_in_markdown() -> None:
    # Every shipped body converts without loss, so none needs the HTML mode.
    assert [name for name, body in _bodies() if "markdown" not in body] == []


@pytest.mark.parametrize(("name", "html"), HTML_STEPS, ids=[n for n, _ in HTML_STEPS])
def test_every_shipped_html_step_converts_keeping_links_and_placeholders(
    name: str, html: str
) -> None:
    converted = html_to_markdown(html)
    assert converted.losses == [], name
    for tag in _JINJA.findall(html):
        assert tag in converted.markdown, tag
    before = StepSource("Subject", "", html, None)
    after = StepSource("Subject", "", "", None, converted.markdown)
    assert check_step(after).errors == []
    for kind in ("chronic", "acute"):
        old, new = render_for(before, kind), render_for(after, kind)
        assert _links(new.html) == _links(old.html)
        # The words survive too: the text parts read the same, apart from spacing.
        assert _words(old.text) == _words(new.text)


def test_a_button_and_a_conditional_keep_their_jinja() -> None:
    html = (
        '<h1>Hi {{ first_name }}</h1>\n<p>Call <a href="{{ clinic.phone_link }}">us</a>.</p>\n'
        '{% if review_url %}<p><a class="button" href="{{ review_url }}">Write a review</a></p>'
        "{% endif %}"
    )
    markdown = html_to_markdown(html).markdown
    assert markdown.startswith("# Hi {{ first_name }}\n")
    assert "[us]({{ clinic.phone_link }})" in markdown
    assert "[[button: Write a review | {{ review_url }}]]" in markdown
    assert (
        markdown.index("{% if review_url %}")
        < markdown.index("[[button")
        < markdown.index("{% endif %}")
    )


def test_what_markdown_cannot_keep_is_named() -> None:
    html = (
        '<table><tr><td style="color:#c00">Mon</td><td>9-5</td></tr></table>'
        '<p align="center"><span class="big">Hello</span></p>'
    )
    converted = html_to_markdown(html)
    words = " ".join(converted.losses)
    for lost in ("tables", "inline styles", "alignment", "styled words"):
        assert lost in words
    assert "Mon" in converted.markdown
    assert "Hello" in converted.markdown
