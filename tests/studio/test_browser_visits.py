"""A staff member in headless Chromium opens tomorrow's visits and sees who said they will come."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nurture.core import clock
from nurture.core.config import get_settings
from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD
from tests.studio.test_visits import seed_day

pytestmark = pytest.mark.slow


def test_a_staff_member_reads_tomorrows_answers(tmp_path: Path, session, make_staff) -> None:
    make_staff("editor@clinic.example", "editor")
    zone = ZoneInfo(get_settings().clinic_timezone)
    tomorrow = clock.now().astimezone(zone).date() + timedelta(days=1)
    seed_day(session, datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone))
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        page.goto(base + "/studio")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()

        page.get_by_role("navigation", name="Studio").get_by_role("link", name="Visits").click()
        page.get_by_role(
            "heading", name=f"Visits on {tomorrow:%A}, {tomorrow.isoformat()}"
        ).wait_for()
        rows = page.locator("tbody tr")
        assert rows.count() == 2
        ann, ben = rows.nth(0), rows.nth(1)
        assert "Ann" in ann.inner_text()
        assert "Confirmed" in ann.inner_text()
        assert "Ben" in ben.inner_text()
        assert "Not confirmed" in ben.inner_text()
        assert ann.get_by_role("link", name="Email ann@example.com").get_attribute("href") == (
            "mailto:ann@example.com"
        )

        page.get_by_role("link", name=f"{tomorrow + timedelta(days=1)} →").click()
        page.get_by_role("heading", name=str(tomorrow + timedelta(days=1))).wait_for()
        assert "Asked to change" in page.locator("tbody").inner_text()
