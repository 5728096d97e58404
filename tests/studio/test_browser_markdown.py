"""In headless Chromium: a step written in Markdown with the toolbar, its preview kept honest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: SCREENSHOT_DIR=docs/screenshots refreshes the documentation's."""
    return Path(os.environ.get("SCREENSHOT_DIR", tmp_path))


def test_a_step_is_written_in_markdown_with_the_toolbar_and_the_preview_follows(
    tmp_path: Path, session, sequences_loaded, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        page.goto(base + "/studio/sequences/chronic-basics")
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.get_by_role("button", name="Add a step").click()

        # A new step starts in Markdown, and its preview shows the starter button.
        assert page.get_by_label("Markdown").is_checked()
        frame = page.frame_locator("#preview-frame")
        frame.locator("td.button-cell a.button").get_by_text("Book an assessment").wait_for()

        body = page.locator("#markdown")
        body.fill("A calmer week.\n\n")
        body.press("End")
        body.press("Control+End")
        body.type("Stretch ")
        page.get_by_role("button", name="Bold").click()  # wraps a placeholder, selected
        page.keyboard.type("gently")
        body.press("Control+End")
        body.type("\n\n")
        page.get_by_role("button", name="Button").click()
        value = body.input_value()
        assert "Stretch **gently**" in value
        assert "[[button: Book an assessment | {{ booking_url }}]]" in value

        frame.locator("strong").get_by_text("gently").wait_for()
        frame.locator("td.button-cell a.button").get_by_text("Book an assessment").wait_for()
        assert page.locator("#preview-error").is_hidden()
        page.screenshot(path=str(_shots(tmp_path) / "studio-markdown.png"), full_page=False)

        # A broken draft replaces the preview with the reason, never the last good render.
        body.press("Control+End")
        body.type("Hello {{ first_name }")
        page.locator("#preview-error").wait_for(state="visible")
        assert page.locator("#preview-frame").is_hidden()
        assert "does not render" in page.locator("#preview-error").inner_text()
        assert "template syntax error" in page.locator("#preview-problems").inner_text()

        # Fixed, the preview comes back; saved, the step keeps its Markdown.
        body.press("Backspace")
        body.type("}}")
        frame.get_by_text("Hello Sam").wait_for()
        assert page.locator("#preview-error").is_hidden()
        page.get_by_role("button", name="Save step").click()
        assert "Step saved to the draft" in page.get_by_role("status").first.inner_text()
        assert "Stretch **gently**" in page.locator("#markdown").input_value()
