"""A person in headless Chromium: landing page, confirmation, preferences, one-click out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.leads.models import Lead
from tests.browser import browser
from tests.processes import serving_web

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def test_signup_confirm_preferences_and_unsubscribe_in_a_browser(
    tmp_path: Path, session, sequences_loaded, settings
) -> None:
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))  # docs/screenshots to refresh them
    with serving_web(tmp_path) as base, browser() as b:
        settings(base_url=base)  # links in the emails this process renders point at the server
        for name, size in {"phone": (390, 844), "desktop": (1280, 900)}.items():
            page = b.new_page(viewport={"width": size[0], "height": size[1]})  # type: ignore[attr-defined]
            page.goto(base + "/")
            page.screenshot(path=str(shots / f"landing-{name}.png"), full_page=True)
            page.close()
        page = b.new_page(viewport={"width": 1024, "height": 800})  # type: ignore[attr-defined]
        page.goto(base + "/")
        # Submitting without consent shows errors next to the fields, announced as an alert.
        page.get_by_label("First name").fill("Ada")
        page.get_by_label("Email address").fill("ada@example.com")
        page.get_by_role("radio", name="It comes and goes").check()
        page.get_by_role("button", name="Send me the guides").click()
        page.get_by_role("alert").wait_for()
        assert "Please tick the box to agree" in page.content()
        assert page.get_by_label("Your time zone").input_value()  # filled in by the browser
        page.get_by_label("Yes, email me helpful information", exact=False).check()
        page.get_by_role("button", name="Send me the guides").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        # The confirmation email, read in the local outbox and followed like a person would.
        assert CliRunner().invoke(main, ["tick"]).exit_code == 0
        page.goto(base + "/outbox")
        page.get_by_role("link", name="Please confirm your email address").click()
        confirm = page.frame_locator("iframe").get_by_role("link", name="Yes, confirm my email")
        href = confirm.get_attribute("href")
        assert href
        assert href.startswith(base + "/confirm/")
        confirm.click()  # followed from inside the preview frame, as a person would
        # The link only shows the button (mail scanners open links); the press confirms.
        page.get_by_role("button", name="Yes, confirm my email").click()
        page.get_by_role("heading", name="You're confirmed, Ada").wait_for()
        assert CliRunner().invoke(main, ["tick"]).exit_code == 0
        page.goto(base + "/outbox")
        page.get_by_role("link", name="Welcome, Ada: your first short read").click()
        page.frame_locator("iframe").get_by_role("link", name="unsubscribe").wait_for()
        page.screenshot(path=str(shots / "outbox-welcome.png"), full_page=True)
        frame = page.frame_locator("iframe")
        preferences = frame.get_by_role("link", name="Change your preferences").get_attribute(
            "href"
        )
        unsubscribe = frame.get_by_role("link", name="unsubscribe").get_attribute("href")
        page.goto(preferences)
        page.get_by_role("button", name="Pause emails for 2 weeks").click()
        assert "Paused" in page.get_by_role("status").inner_text()
        page.goto(unsubscribe)
        page.get_by_role("button", name="Unsubscribe me").click()
        page.get_by_role("heading", name="You're unsubscribed").wait_for()
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    assert lead.status == "unsubscribed"
    assert lead.timezone  # detected in the browser
    assert get_settings().resolved_outbox_dir.is_dir()


def test_landing_page_is_keyboard_usable(tmp_path: Path) -> None:
    with serving_web(tmp_path) as base, browser() as b:
        page = b.new_page()  # type: ignore[attr-defined]
        page.goto(base + "/")
        page.keyboard.press("Tab")  # the language switch comes first, in the header
        assert page.evaluate("document.activeElement.getAttribute('hreflang')") == "es"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "first_name"
        page.keyboard.type("Bo")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "email"
        # Every form control has a label a screen reader can announce.
        unlabeled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]):not(#website)')]
                 .filter(i => !i.labels || i.labels.length === 0).map(i => i.name)"""
        )
        assert unlabeled == []
