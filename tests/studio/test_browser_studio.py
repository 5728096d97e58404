"""A staff member in headless Chromium: sign in, edit, preview, test, publish, simulate, results."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from nurture.core import clock
from nurture.enrollments.service import enroll
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus
from nurture.sequences.models import Sequence
from tests.browser import browser
from tests.factories import make_lead, outbox_messages
from tests.processes import child_env, free_port, running, wait_for
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow


def seed_results(session) -> None:  # type: ignore[no-untyped-def]
    """A few weeks of sends with provider events, so the results page has something to show."""
    now = clock.now()
    events = ["delivered", "open", "click"]
    for i in range(24):
        lead = make_lead(session, email_address=f"seed{i}@example.com")
        enrollment = enroll(session, lead=lead, now=now)
        message = session.scalar(select(Message).where(Message.enrollment_id == enrollment.id))
        message.status = MessageStatus.SENT
        message.sent_at = now - timedelta(days=i % 20, hours=i)
        for j, name in enumerate(events[: 1 + i % 3]):
            session.add(
                DeliveryEvent(
                    provider_event_id=f"seed-{i}-{j}",
                    message_id=message.id,
                    event=name,
                    occurred_at=message.sent_at,
                )
            )
    session.commit()


def test_a_staff_member_edits_tests_publishes_and_reads_results(
    tmp_path: Path, session, sequences_loaded, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    seed_results(session)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    outbox = tmp_path / "outbox"
    env = child_env(base_url=base, email_backend="outbox", outbox_dir=str(outbox))
    log = tmp_path / "web.log"
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))  # docs/screenshots to refresh them
    with running(["web", "--port", str(port)], env=env, cwd=tmp_path, log=log), browser() as b:
        wait_for(
            lambda: httpx.get(base + "/healthz", timeout=5).status_code in (200, 503),
            timeout=60,
            what="web",
            log=log,
        )
        page = b.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        page.goto(base + "/studio")
        assert "/studio/login" in page.url  # anonymous visitors are sent to sign in
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        assert "do not match" in page.get_by_role("alert").inner_text()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()

        page.get_by_role("link", name="Numbness that has lasted a long time").first.click()
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.get_by_role("heading", name="Editing").wait_for()
        page.get_by_role("link", name="welcome").click()

        # The preview follows the typing of the Markdown body, in the real layout.
        frame = page.frame_locator("#preview-frame")
        frame.get_by_text("unsubscribe", exact=False).first.wait_for()
        assert page.get_by_label("Markdown", exact=True).is_checked()  # shipped steps are Markdown
        body = page.get_by_label("Body", exact=True)
        body.fill("# Hello {{ first_name }}\n\nA calmer first email.")
        frame.get_by_text("A calmer first email.").wait_for()
        frame.get_by_role("heading", name="Hello Sam").wait_for()
        page.get_by_label("Phone").check()
        assert page.locator("#preview-frame").evaluate("f => f.clientWidth") <= 390
        page.get_by_label("Desktop").check()
        page.screenshot(path=str(shots / "studio-editor.png"), full_page=True)

        # A mistake is shown as it is typed, and blocks saving.
        body.fill("# Hello {{ first_name }")
        page.locator("#preview-problems").get_by_text("line 1").wait_for()
        page.get_by_role("button", name="Save step").click()
        assert "Not saved" in page.get_by_role("alert").inner_text()
        body.fill("# Hello {{ first_name }}\n\nA calmer first email.")
        page.get_by_role("button", name="Fill in the text from the body").click()
        # A function, not a bare expression: Playwright evals expressions, and the CSP forbids eval.
        page.wait_for_function("() => document.getElementById('text').value.includes('calmer')")
        page.get_by_role("button", name="Save step").click()
        assert "Step saved to the draft" in page.get_by_role("status").first.inner_text()

        # A test send goes to the staff member's own address through the outbox backend.
        page.get_by_role("button", name="Send me a test").click()
        assert "Test sent to editor@clinic.example" in page.locator(".flash").inner_text()
        (proof,) = outbox_messages(outbox)
        assert proof["To"] == "editor@clinic.example"
        assert str(proof["Subject"]).startswith("[Test] ")
        assert proof["X-Nurture-Test"] == "true"

        # Publishing shows the diff, then makes a new live version.
        page.get_by_role("link", name=", draft v2").click()
        page.get_by_role("link", name="Review and publish").first.click()
        assert "A calmer first email." in page.locator("pre.diff").inner_text()
        page.get_by_role("button", name="Publish version 2").click()
        assert "Version 2 is live" in page.locator(".flash").inner_text()

        # The simulator lays out every email for a lead confirming at 21:00 in Berlin.
        page.get_by_role("link", name="Simulator").click()
        page.get_by_label("Sequence").select_option("chronic-basics")
        page.get_by_label("At (local time)").fill("21:00")
        page.get_by_label("Time zone").fill("Europe/Berlin")
        page.get_by_role("button", name="Show the timeline").click()
        rows = page.locator("#timeline tbody tr")
        chronic = session.scalar(select(Sequence).where(Sequence.slug == "chronic-basics"))
        assert rows.count() == len(chronic.versions[-1].steps)
        assert "21:00" in rows.first.inner_text()
        page.screenshot(path=str(shots / "studio-simulator.png"), full_page=True)

        # Results: the journey and numbers per step, charts, with the open-rate caveat.
        page.get_by_role("link", name="Results").first.click()
        page.get_by_role("link", name="Numbness that has lasted a long time").first.click()
        page.locator("#step-results").wait_for()
        page.locator("#journey-results").wait_for()
        assert page.locator("svg").count() == 3  # funnel, show rate, sends per day
        assert "privacy proxies" in page.locator("#open-note").inner_text()
        page.screenshot(path=str(shots / "studio-results.png"), full_page=True)

        # Every form control in the editor has a label.
        page.go_back()
        page.goto(base + "/studio/sequences/chronic-basics")
        unlabeled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(i => !i.labels || i.labels.length === 0).map(i => i.name)"""
        )
        assert unlabeled == []
