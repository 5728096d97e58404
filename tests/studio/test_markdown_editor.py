"""Writing steps without HTML in the studio: Markdown by default, tidy line ends, all checks."""

from __future__ import annotations

import re

from markupsafe import escape
from sqlalchemy import select

from nurture.sequences.models import Step
from tests.studio.conftest import Studio
from tests.studio.test_editor import SLUG, open_draft, step_form


def test_a_new_step_is_written_in_markdown_with_a_toolbar(
    studio: Studio, session, sequences_loaded
) -> None:
    open_draft(studio)
    added = studio.post(f"/studio/sequences/{SLUG}/edit/steps")
    assert added.status_code == 303
    step_id = int(added.headers["location"].rsplit("/", 1)[1].split("?")[0])
    step = session.get(Step, step_id)
    assert step.body_markdown is not None
    assert "[[button: Book an assessment | {{ booking_url }}]]" in step.body_markdown
    page = studio.get(f"/studio/sequences/{SLUG}/edit/steps/{step_id}").text
    assert re.search(r'name="format" value="markdown" checked', page)
    for tool in ("heading", "bold", "italic", "link", "list", "button"):
        assert f'data-md="{tool}"' in page
    assert 'id="md-variable"' in page


def test_a_markdown_step_is_saved_previewed_and_published_as_written(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    markdown = (
        "# Hello {{ first_name }}\n\nA **calmer** week.\n\n[[button: Book | {{ booking_url }}]]"
    )
    form = step_form(session, ids[0], format="markdown", markdown=markdown)
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}"
    preview = studio.post(url + "/preview", {**form, "numbness_type": "chronic"}).json()
    assert "<strong>calmer</strong>" in preview["html"]
    assert 'class="button-cell"' in preview["html"]
    assert 'class="button"' in preview["body_html"]  # where the HTML mode would start
    assert studio.post(url, form).status_code == 303
    session.expire_all()
    step = session.get(Step, ids[0])
    assert step.body_markdown == markdown
    assert "<strong>calmer</strong>" in step.body_html
    diff = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert "+  markdown: |-" in diff
    assert studio.post(f"/studio/sequences/{SLUG}/publish").status_code == 303
    exported = studio.get(f"/studio/sequences/{SLUG}/export").text
    assert "  markdown: |-\n    # Hello {{ first_name }}\n" in exported


def test_browser_line_ends_make_a_one_line_edit_one_line_in_the_diff(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    step = session.get(Step, ids[0])
    lines = step.body_markdown.splitlines()
    before, lines[2] = lines[2], "One changed line."
    # As a browser posts a textarea: CRLF line ends.
    markdown = "\r\n".join(lines) + "\r\n"
    form = step_form(
        session,
        ids[0],
        format="markdown",
        markdown=markdown,
        text="Plain words.\r\nSecond line.\r\n",
    )
    assert studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form).status_code == 303
    session.expire_all()
    assert "\r" not in session.get(Step, ids[0]).body_markdown
    page = studio.get(f"/studio/sequences/{SLUG}/publish").text
    added = re.findall(r'<span class="add">(.*?)</span>', page)
    removed = re.findall(r'<span class="del">(.*?)</span>', page)
    assert removed == [f"-    {escape(before)}"]
    assert added == [
        "+    One changed line.",
        "+  text: |",
        "+    Plain words.",
        "+    Second line.",
    ]


def test_every_check_is_reported_together(studio: Studio, session, sequences_loaded) -> None:
    ids = open_draft(studio)
    link = '<p><a href="http://example.com/x">x</a></p>'
    big = "<p>" + "word " * 21000 + "</p>"
    form = step_form(session, ids[0], subject="About your numbness", html=link + big, text="")
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert response.status_code == 422
    page = response.text
    assert "link is not https: http://example.com/x" in page
    assert "names a condition or symptom" in page
    assert "Gmail clips emails over 102400" in page
    # A template that cannot be read is not rendered, but the other checks still run.
    form["text"] = "Hello {{ first_name }"
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/preview"
    result = studio.post(url, form).json()
    messages = [p["message"] for p in result["problems"]]
    assert any("Text body, line 1: template syntax error" in m for m in messages)
    assert any("link is not https" in m for m in messages)
    assert any("names a condition" in m for m in messages)
    assert "html" not in result


def test_a_broken_markdown_draft_previews_as_not_rendered(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    written = session.get(Step, ids[0]).body_markdown
    form = step_form(session, ids[0], format="markdown", markdown="# Hi {{ first_name }")
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/preview"
    result = studio.post(url, form).json()
    assert "html" not in result
    assert any(
        "Markdown body, line 1: template syntax error" in p["message"] for p in result["problems"]
    )
    saved = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert saved.status_code == 422
    session.expire_all()
    assert session.scalar(select(Step.body_markdown).where(Step.id == ids[0])) == written


def test_the_studio_refuses_to_save_a_link_with_no_address(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    form = step_form(session, ids[0], format="markdown", markdown="[link words](https://)")
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert response.status_code == 422
    assert "no web address" in response.text
