"""In headless Chromium: the text editors count characters and segments as staff type."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from nurture.appointments import service
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from tests.browser import browser
from tests.delivery.texts.helpers import PHONE
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow


def test_the_segment_counter_follows_gsm7_and_unicode_as_typed(
    tmp_path: Path, session, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    service.book(
        session,
        data=AppointmentIn(
            email="pat@example.com",
            starts_at=clock.now() + timedelta(days=3),
            timezone="Europe/Berlin",
            phone=PHONE,
            sms_consent=True,
        ),
        now=clock.now(),
    )
    session.commit()
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        for url, box, count in (
            ("/studio/texts/edit/appointment_reminder", "What the text says", "#segment-count"),
            (f"/studio/texts/numbers/{PHONE.lstrip('+')}", "Your answer", "#answer-count"),
        ):
            page.goto(base + url)
            area, shown = page.get_by_label(box), page.locator(count)
            area.fill("Plain text {ok}")  # braces take two units each in GSM-7
            assert "17 characters (GSM-7): 1 segment(s)." in shown.inner_text()
            area.fill("a" * 161)
            assert "161 characters (GSM-7): 2 segment(s), aim for one" in shown.inner_text()
            area.fill("See you soon 🙂")  # an emoji: UCS-2, counted in UTF-16 units
            assert "15 characters (UCS-2): 1 segment(s)." in shown.inner_text()
            area.fill("’" * 71)
            assert "71 characters (UCS-2): 2 segment(s)" in shown.inner_text()
