"""In headless Chromium at phone width: an unsaved goal warns before leaving, a saved one stays."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow

FITS = "document.documentElement.scrollWidth <= 390"


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: SCREENSHOT_DIR=docs/screenshots refreshes the documentation's."""
    return Path(os.environ.get("SCREENSHOT_DIR", tmp_path))


def test_the_goal_form_guards_unsaved_choices_and_fits_a_phone(
    tmp_path: Path, session: Any, sequences_loaded: None, make_staff: Any
) -> None:
    make_staff("editor@clinic.example", "editor")
    with serving_web(tmp_path) as base, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        page.goto(base + "/studio/sequences/chronic-basics")
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.get_by_role("heading", name="Editing").wait_for()
        assert page.evaluate(FITS), "the draft page scrolls sideways at 390 px"

        asked: list[str] = []

        def answer(dialog: Any) -> None:
            asked.append(dialog.type)
            dialog.accept()

        page.on("dialog", answer)
        goal = page.get_by_role("group", name="What stops the rest of the emails")
        goal.get_by_label("Stop when they come to a visit").check()
        page.get_by_role("link", name="← Numbness that has lasted a long time").click()
        page.get_by_role("heading", name="Numbness that has lasted a long time").wait_for()
        assert asked == ["beforeunload"]  # the unsaved choice was guarded, then let go

        page.goto(base + "/studio/sequences/chronic-basics/edit")
        goal = page.get_by_role("group", name="What stops the rest of the emails")
        assert goal.get_by_label("Stop when they book a visit").is_checked()  # not saved
        goal.get_by_label("Stop when they come to a visit").check()
        page.get_by_role("button", name="Save goal").click()
        page.get_by_text("Goal saved.").wait_for()
        page.screenshot(path=str(_shots(tmp_path) / "studio-journey-phone.png"), full_page=True)
        assert asked == ["beforeunload"]  # saving is not leaving
        goal = page.get_by_role("group", name="What stops the rest of the emails")
        assert goal.get_by_label("Stop when they come to a visit").is_checked()
        assert page.evaluate(FITS), "the saved draft page scrolls sideways at 390 px"
