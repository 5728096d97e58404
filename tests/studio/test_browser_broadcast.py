"""In headless Chromium: a broadcast from segment, through count, test and schedule, to results."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.leads.models import LeadStatus
from tests.browser import browser
from tests.factories import make_lead, outbox_messages
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow


def test_a_broadcast_goes_from_segment_to_results(
    tmp_path: Path, session, settings, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    for i in range(3):
        make_lead(session, email_address=f"chronic{i}@example.com", first_name=f"Pat{i}")
    make_lead(session, email_address="acute@example.com", numbness_type="acute")
    make_lead(session, email_address="quiet@example.com", status=LeadStatus.NO_CONSENT)
    session.commit()
    outbox = tmp_path / "outbox"
    # The tick runs in this process, against the same database and outbox as the server.
    settings(email_backend="outbox", outbox_dir=str(outbox))
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    with (
        serving_web(tmp_path, email_backend="outbox", outbox_dir=str(outbox)) as base,
        browser() as b,
    ):
        page = b.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        page.on("dialog", lambda dialog: dialog.accept())  # data-confirm asks before scheduling
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        page.get_by_role("link", name="Broadcasts").click()
        page.get_by_role("link", name="New broadcast").click()

        # The segment: chronic leads who have not booked; open all day so the test can run now.
        page.get_by_label("Name").fill("Evening hours")
        # The count follows each choice, before anything is saved.
        count = page.locator("#audience-count")
        expect(count).to_contain_text("4 people would get it now")
        page.get_by_label("chronic").check()
        page.get_by_label("Booked a visit").select_option("no")
        expect(count).to_contain_text("3 people would get it now")
        page.get_by_label("Send from (hour)").fill("0")
        page.get_by_label("Send until (hour)").fill("24")
        page.get_by_label("Subject").fill("New evening hours")
        page.get_by_label("Preheader").fill("Open until 8 pm from Monday")
        body = page.locator("#markdown")
        body.fill("Hello {{ first_name }},\n\nWe are now open ")
        page.get_by_role("button", name="Bold").click()
        page.keyboard.type("until 8 pm")
        body.press("Control+End")
        body.type(".\n\n")
        page.get_by_role("button", name="Button").click()
        assert "[[button: Book an assessment | {{ booking_url }}]]" in body.input_value()
        # Link asks for the address here as in the step editor, and refuses none at all.
        body.type("See ")
        page.get_by_role("button", name="Link").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Where does it go?").fill("https://")
        dialog.get_by_role("button", name="Insert link").click()
        expect(dialog.get_by_role("alert")).to_be_visible()
        dialog.get_by_label("Where does it go?").fill("https://clinic.example/hours")
        dialog.get_by_role("button", name="Insert link").click()
        assert body.input_value().endswith("See [link words](https://clinic.example/hours)")
        assert errors == []
        frame = page.frame_locator("#preview-frame")
        frame.locator("strong").get_by_text("until 8 pm").wait_for()
        frame.get_by_text("Hello Sam").wait_for()
        page.get_by_role("button", name="Save and review").click()

        # The count, who is left out, a sample, and the email itself.
        assert "Draft saved" in page.locator(".flash").inner_text()
        assert "3 people would get it" in page.locator("#recipient-count").inner_text()
        assert "1 left out: not subscribed" in page.content()
        assert page.locator("#sample tbody tr").count() == 3
        assert "chronic0@example.com" not in page.content()  # addresses are shortened
        page.frame_locator("iframe.preview-frame").get_by_text("Hello Sam").wait_for()
        page.screenshot(path=str(shots / "studio-broadcast.png"), full_page=True)

        # A test send goes to the staff member only.
        page.get_by_role("button", name="Send me a test").click()
        assert "Test sent to editor@clinic.example" in page.locator(".flash").inner_text()
        (proof,) = outbox_messages(outbox)
        assert proof["Subject"] == "[Test] New evening hours"

        # Scheduled a few minutes ahead, in the clinic's zone.
        zone = ZoneInfo(get_settings().clinic_timezone)
        at = (clock.now() + timedelta(minutes=5)).astimezone(zone).replace(second=0, microsecond=0)
        page.get_by_label("Send at").fill(at.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Schedule", exact=True).click()
        assert "Scheduled" in page.locator(".flash").inner_text()
        assert "scheduled" in page.locator("h1 .badge").inner_text()

        # Nothing before its time; the tick at its time plans and sends one email each.
        with clock.frozen_at(at - timedelta(minutes=1)):
            service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
        assert len(outbox_messages(outbox)) == 1
        for moment in (at + timedelta(minutes=1), at + timedelta(minutes=2)):
            with clock.frozen_at(moment):
                service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
        sent = [m for m in outbox_messages(outbox) if m["Subject"] == "New evening hours"]
        assert sorted(m["To"] for m in sent) == [f"chronic{i}@example.com" for i in range(3)]

        page.reload()
        assert "sent" in page.locator("h1 .badge").inner_text()
        outcomes = page.locator("#outcomes").inner_text()
        assert "Planned\t3" in outcomes
        assert "Sent\t3" in outcomes
        assert "Left out when planned (not subscribed, or suppressed)\t1" in outcomes
        page.locator("#after-sending").wait_for()
        page.screenshot(path=str(shots / "studio-broadcast-results.png"), full_page=True)

        # Phone width: nothing runs off the side.
        page.set_viewport_size({"width": 390, "height": 844})
        for url in ("/studio/broadcasts", page.url, base + "/studio/broadcasts/new"):
            page.goto(url if url.startswith("http") else base + url)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, url
