"""An admin on a phone filters the leads, pauses all of them at once and exports them."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nurture.leads.models import Lead
from tests.browser import browser
from tests.factories import make_lead
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow

FITS = "document.documentElement.scrollWidth <= 390"


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: SCREENSHOT_DIR=docs/screenshots refreshes the documentation's."""
    return Path(os.environ.get("SCREENSHOT_DIR", tmp_path))


def test_filter_pause_and_export_at_phone_width(
    tmp_path: Path, session: Any, make_staff: Any
) -> None:
    make_staff("admin@clinic.example", "admin")
    for i in range(3):
        make_lead(session, email_address=f"chronic{i}@example.com", numbness_type="chronic")
    make_lead(session, email_address="acute@example.com", numbness_type="acute")
    session.commit()
    with serving_web(tmp_path) as base, browser() as b:
        page = b.new_page(  # type: ignore[attr-defined]
            viewport={"width": 390, "height": 844}, accept_downloads=True
        )
        page.goto(base + "/studio/leads")
        page.get_by_label("Email").fill("admin@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Leads", exact=True).wait_for()

        page.get_by_role("group", name="Kind of numbness").get_by_label("chronic").check()
        page.get_by_role("button", name="Show leads").click()
        page.get_by_role("heading", name="3 leads: Chronic leads").wait_for()
        assert "numbness_type=chronic" in page.url  # bookmarkable
        assert page.evaluate(FITS), "the filtered list scrolls sideways at 390 px"

        # people.js: one box ticks the page, and says how many are ticked.
        page.get_by_label("Tick every lead on this page").check()
        page.get_by_text("(3 ticked)").wait_for()
        page.get_by_role("button", name="Pause", exact=True).click()
        page.get_by_text("Paused 3 leads until").wait_for()
        page.get_by_role("button", name="Undo").wait_for()
        page.screenshot(path=str(_shots(tmp_path) / "studio-people-phone.png"), full_page=True)
        assert page.evaluate(FITS), "the list with its message scrolls sideways at 390 px"
        session.expire_all()
        paused = {lead.email for lead in session.scalars(select(Lead)) if lead.paused_until}
        assert paused == {f"chronic{i}@example.com" for i in range(3)}

        page.get_by_label("All 3 leads matching this filter").check()
        with page.expect_download() as caught:
            page.get_by_role("button", name="Export as CSV").click()
        saved = tmp_path / "selection.csv"
        caught.value.save_as(saved)
        with saved.open(newline="") as fh:
            emails = sorted(row["email"] for row in csv.DictReader(fh))
        assert emails == [f"chronic{i}@example.com" for i in range(3)]
