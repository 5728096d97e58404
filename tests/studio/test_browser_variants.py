"""In headless Chromium: a variant test from its setup to the winner published as the step."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.core.db import session_scope
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments.service import enroll
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences import service as sequences
from nurture.sequences.files import parse_sequence
from nurture.sequences.models import Sequence
from tests.browser import browser
from tests.factories import make_lead
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow

BASE = """slug: ab-test
name: First email test
audience: chronic
window: {start_hour: 0, end_hour: 24}
steps:
  - key: welcome
    subject: Welcome to the clinic
    markdown: Hello {{ first_name }}, welcome.
"""


def _send_to_leads(session, count: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Enroll `count` leads and run a tick; return the addresses each arm was sent to."""
    now = clock.now()
    for i in range(count):
        enroll(session, lead=make_lead(session, email_address=f"p{i}@example.com"), now=now)
    session.commit()
    with clock.frozen_at(now + timedelta(minutes=1)):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    arms: dict[str, list[str]] = {}
    with session_scope() as s:
        for message in s.scalars(select(Message)):
            assert message.status == MessageStatus.SENT
            arms.setdefault(str(message.variant_key), []).append(message.lead.email)  # type: ignore[union-attr]
    return arms


def test_a_variant_test_runs_from_setup_to_the_winner_published(
    tmp_path: Path, session, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    sequences.publish_spec(session, spec=parse_sequence(BASE))
    session.commit()
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    with serving_web(tmp_path, email_backend="outbox") as base, browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        page.on("dialog", lambda dialog: dialog.accept())  # data-confirm asks first
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()

        # Set up in the editor: a draft, a test on the first step, and b's own words.
        page.goto(base + "/studio/sequences/ab-test")
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.locator('a[href*="/edit/steps/"]').first.click()
        page.get_by_role("button", name="Start an A/B test").click()
        assert "Variants a and b added" in page.locator(".flash").inner_text()
        # It opens b, a copy of the step for now: b gets its own subject and body.
        page.get_by_role("heading", name="Variant b of step 1, welcome").wait_for()
        page.get_by_label("Subject").fill("Your first visit, this week")
        page.get_by_label("Its own, in Markdown").check()
        page.get_by_label("Markdown body").fill(
            "Hello {{ first_name }}, book your first visit this week."
        )
        page.frame_locator("#preview-frame").get_by_text("book your first visit").wait_for()
        page.screenshot(path=str(shots / "studio-variant.png"), full_page=True)
        page.get_by_role("button", name="Save variant").click()
        assert "Variant b saved to the draft." in page.locator(".flash").inner_text()
        # The step's Spanish tab renders the translation as it is typed, before any save.
        page.goto(page.url.split("/variants/")[0] + "/languages/es")
        page.get_by_label("Body in Spanish (Markdown)").fill("Hola, reserve su primera visita.")
        page.frame_locator("#preview-frame").get_by_text("reserve su primera visita").wait_for()
        srcdoc = page.locator("#preview-frame").get_attribute("srcdoc") or ""
        assert "Señales de alarma" in srcdoc  # in the Spanish layout
        page.goto(base + "/studio/sequences/ab-test/publish")
        diff = page.locator("pre.diff").inner_text()
        assert "variants:" in diff
        assert "Your first visit, this week" in diff
        page.get_by_role("button", name="Publish version 2").click()
        assert "Version 2 is live" in page.locator(".flash").inner_text()

        # Six people get the first email, three per arm; everyone sent b books within a day.
        arms = _send_to_leads(session, 6)
        assert sorted(len(v) for v in arms.values()) == [3, 3]
        at = clock.now() + timedelta(hours=2)  # after the tick's sends, a minute ahead
        with clock.frozen_at(at):
            for email in arms["b"]:
                data = AppointmentIn(
                    email=email, starts_at=at + timedelta(days=3), timezone="Europe/Berlin"
                )
                appointments.book(session, data=data, now=at)
            session.commit()

        # The results judge the arms on bookings, with each one's chance of being best.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/studio/results/ab-test?days=7")
        verdict = page.locator("#verdict-welcome").inner_text()
        assert verdict.startswith("Variant b is ahead with a 9")
        assert "wait for more data before deciding" in verdict
        row_b = page.locator('tr[data-variant="b"]')
        assert "leader" in row_b.inner_text()
        assert row_b.locator("td.booked").inner_text() == "3"
        assert page.locator('tr[data-variant="a"] td.booked').inner_text() == "0"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1200, "height": 900})
        page.locator("#test-welcome").screenshot(path=str(shots / "studio-variant-results.png"))

        # The winner becomes the step in a draft; published, the test is over.
        row_b.get_by_role("button", name="Make b the step").click()
        flash = page.locator(".flash").inner_text()
        assert "Variant b is now the step 'welcome' in draft v3: review and publish." in flash
        page.get_by_role("link", name="Review and publish").first.click()
        diff = page.locator("pre.diff").inner_text()
        assert "+  subject: Your first visit, this week" in diff
        assert "-  variants:" in diff
        page.get_by_role("button", name="Publish version 3").click()
        assert "Version 3 is live" in page.locator(".flash").inner_text()
        page.goto(base + "/studio/results/ab-test")
        assert page.get_by_role("button", name="Make b the step").count() == 0
        assert "finished" in page.locator("#test-welcome h2").inner_text()

    session.expire_all()
    sequence = session.scalar(select(Sequence).where(Sequence.slug == "ab-test"))
    live = sequences.live_version(session, sequence.id)
    assert live is not None
    assert live.number == 3
    (step,) = live.steps
    assert (step.subject, step.variants) == ("Your first visit, this week", [])
    assert step.body_markdown == "Hello {{ first_name }}, book your first visit this week."
