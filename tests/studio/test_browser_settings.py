"""An admin in headless Chromium edits the clinic's details, at desktop and phone width."""

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


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + "/studio")
    page.get_by_label("Email").fill("admin@clinic.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Sequences").wait_for()


def test_an_admin_corrects_a_bad_value_and_the_new_name_shows_at_once(
    tmp_path: Path, make_staff: Any
) -> None:
    make_staff("admin@clinic.example", "admin")
    with serving_web(tmp_path) as base, browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        _sign_in(page, base)
        page.get_by_role("navigation", name="Studio").get_by_role("link", name="Admin").click()
        page.get_by_role("link", name="Clinic details").first.click()
        page.get_by_role("heading", name="Clinic details").wait_for()

        page.get_by_label("Clinic name").fill("Harbour Chiropractic")
        page.get_by_label("Phone").fill("call us")
        page.get_by_label("Accent colour (buttons and links)", exact=True).fill("#ffdd00")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("heading", name="Nothing was saved").wait_for()
        page.screenshot(path=str(_shots(tmp_path) / "studio-settings.png"), full_page=True)

        phone = page.locator("#e-clinic_phone").inner_text()
        colour = page.locator("#e-accent_color").inner_text()
        assert phone == "Phone is not a phone number."
        assert colour.startswith(
            "Accent colour (buttons and links) is too light for white button text"
        )
        assert "pick a darker colour" in colour
        # What was typed stays, the bad values too, so the admin corrects rather than retypes.
        assert page.get_by_label("Clinic name").input_value() == "Harbour Chiropractic"
        assert page.get_by_label("Phone").input_value() == "call us"
        assert page.get_by_label("Phone").get_attribute("aria-invalid") == "true"

        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(FITS), "the page with errors scrolls sideways at 390 px"
        page.get_by_label("Phone").fill("+1 212 555 0134")
        # The colour is picked rather than typed; the typed field follows the picker.
        page.get_by_label("Pick the accent colour (buttons and links)").fill("#1b6b36")
        accent = page.get_by_label("Accent colour (buttons and links)", exact=True)
        assert accent.input_value() == "#1b6b36"
        # Link fields are as wide as the others.
        name_box = page.get_by_label("Clinic name").bounding_box()
        link_box = page.get_by_label("Booking page").bounding_box()
        assert name_box is not None
        assert link_box is not None
        assert link_box["width"] == name_box["width"]
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Clinic details saved").wait_for()
        assert page.evaluate(FITS), "the clinic page scrolls sideways at 390 px"
        assert page.get_by_label("Clinic name").input_value() == "Harbour Chiropractic"

        landing = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        landing.goto(base + "/")
        assert "Harbour Chiropractic" in landing.locator("body").inner_text()
        assert "Example Spine" not in landing.locator("body").inner_text()
        assert "--button: #1b6b36" in landing.content()
        assert landing.evaluate(FITS)
