"""Every studio page at phone width (390 px) in headless Chromium: no sideways scroll, no word
broken mid-word in a table; and the Markdown toolbar's Link, Heading and HTML conversion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from nurture.sequences.models import Step
from nurture.tasks import run_job
from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD, Studio
from tests.studio.crawl import seed
from tests.studio.test_editor import step_form
from tests.studio.test_import_jobs import HEADER, upload
from tests.studio.test_text_answers import _book

pytestmark = pytest.mark.slow

# Sideways scrolling of the page or of a table's box, cells wider than their box, and words
# whose letters land on two lines (a range over the word has more than one line box).
MEASURE = (Path(__file__).parent / "measure_phone.js").read_text(encoding="utf-8")


def _sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/studio/login")
    page.get_by_label("Email").fill("admin@clinic.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Sequences").wait_for()


def test_every_studio_page_reads_at_phone_width(
    tmp_path: Path, admin_studio: Studio, session, sequences_loaded
) -> None:
    urls = seed(admin_studio, session)
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        _sign_in(page, base)
        found = []
        for pattern, url in sorted(urls.items()):
            if pattern == "/login":
                continue  # signed in, it leads on; read before signing in below
            response = page.goto(base + url)
            assert response is not None, url
            assert response.status == 200, url
            page.wait_for_load_state("load")
            found += [f"{url}: {problem}" for problem in page.evaluate(MEASURE)]
        fresh = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        fresh.goto(base + "/studio/login")
        found += [f"/studio/login: {problem}" for problem in fresh.evaluate(MEASURE)]
        assert not found, "\n".join(found)
        # Rows are cards, each value labelled with its column's heading.
        page.goto(base + urls["/sequences/{slug}/edit"])
        cell = page.locator("main table tbody tr td[data-label='Subject']").first
        assert cell.evaluate("c => getComputedStyle(c, '::before').content") == '"Subject"'


def test_link_heading_and_moving_an_html_step_to_markdown(
    tmp_path: Path, admin_studio: Studio, session, sequences_loaded
) -> None:
    urls = seed(admin_studio, session)
    # A step written in HTML, as steps were before Markdown (and as a file may still have them).
    step_url = urls["/sequences/{slug}/edit/steps/{step_id}"]
    step_id = int(step_url.rsplit("/", 1)[1])
    html = session.get(Step, step_id).body_html
    saved = admin_studio.post(step_url, step_form(session, step_id, format="html", html=html))
    assert saved.status_code == 303
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=str(tmp_path / "o")) as base:
        with browser() as b:
            page = b.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
            _sign_in(page, base)
            page.goto(base + urls["/sequences/{slug}/edit/steps/{step_id}"])
            html_before = page.locator("#html").input_value()
            assert page.get_by_label("HTML (advanced)").is_checked()

            # Declining keeps the HTML; the step itself loses nothing, so it converts at once.
            page.locator("#html").fill(
                html_before + '<table><tr><td style="color:red">x</td></tr></table>'
            )
            asked: list[str] = []
            page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
            # A click, not check(): check() fails when declining has unticked the box again
            # before it looks, which a fast conversion does.
            page.get_by_label("Markdown", exact=True).click()
            expect(page.get_by_label("HTML (advanced)")).to_be_checked()
            assert len(asked) == 1
            assert_losses(asked[0])
            assert page.locator("#html-body").is_visible()
            assert page.locator("#markdown").input_value() == ""
            page.locator("#html").fill(html_before)
            page.get_by_label("Markdown", exact=True).check()
            expect(page.locator("#markdown")).not_to_have_value("")
            markdown = page.locator("#markdown").input_value()
            assert markdown.startswith("# Hi {{ first_name }}")

            # Heading on an empty line writes only the mark; Link asks for the address.
            body = page.locator("#markdown")
            body.press("Control+End")
            body.type("\n\n")
            page.get_by_role("button", name="Heading").click()
            assert body.input_value().endswith("\n\n## ")
            body.type("Next steps\n\nRead ")
            page.get_by_role("button", name="Link").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_role("button", name="Insert link").click()
            assert dialog.get_by_role("alert").is_visible()  # no address: nothing inserted
            dialog.get_by_label("Where does it go?").fill("https://clinic.example/faq")
            dialog.get_by_role("button", name="Insert link").click()
            assert body.input_value().endswith(
                "## Next steps\n\nRead [link words](https://clinic.example/faq)"
            )
            page.get_by_role("button", name="Save step").click()
            assert "Step saved to the draft" in page.get_by_role("status").first.inner_text()


def assert_losses(message: str) -> None:
    """The question before converting names what would be lost."""
    assert "tables" in message, message
    assert "inline styles" in message, message


def test_pages_after_a_post_or_a_job_read_at_phone_width(
    tmp_path: Path, admin_studio: Studio, session, sequences_loaded, twilio
) -> None:
    # Pages reached after a POST or a worker's job are not in the crawl: the refusal of an
    # answer that names a condition, a failed import's problems, and the leads page's hint.
    urls = seed(admin_studio, session)
    _book(session)  # a patient who agreed to texts, at the number the crawl reads
    # A finished import with problems (the crawl reads one still queued): a table of problems.
    failed = upload(admin_studio, HEADER + "bo@example,Bo,sudden,Berlin,yesterday,x\n" * 3)
    run_job(failed)
    thread = urls["/texts/numbers/{number}"]
    texting = {
        "twilio_account_sid": twilio.state.account_sid,
        "twilio_auth_token": twilio.state.auth_token,
        "twilio_from": "+15550100999",
        "twilio_api_base": twilio.url,
    }
    with serving_web(
        tmp_path, email_backend="outbox", outbox_dir=str(tmp_path / "o"), **texting
    ) as base:
        with browser() as b:
            page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
            _sign_in(page, base)
            page.goto(base + urls["/leads"])
            hint = page.locator(".card", has=page.get_by_role("heading", name="Import leads"))
            hint.screenshot(path=str(tmp_path / "leads-import.png"))
            found = [f"leads: {p}" for p in page.evaluate(MEASURE)]
            page.goto(f"{base}/studio/jobs/{failed}")
            expect(page.get_by_text("such as Europe/Berlin").first).to_be_visible()
            page.locator("main").screenshot(path=str(tmp_path / "import-problems.png"))
            found += [f"import problems: {p}" for p in page.evaluate(MEASURE)]
            page.goto(base + thread)
            typed = "Sorry your sciatica still hurts; see you at 9"
            page.get_by_label("Your answer").fill(typed)
            page.get_by_role("button", name="Send the answer").click()
            alert = page.get_by_role("alert")
            expect(alert).to_contain_text("Leave out \u201csciatica\u201d")
            expect(page.get_by_label("Your answer")).to_have_value(typed)
            expect(page.get_by_label("Your answer")).to_have_accessible_description(
                re.compile("lock screen")
            )
            page.locator("main").screenshot(path=str(tmp_path / "refused.png"))
            found += [f"refused answer: {p}" for p in page.evaluate(MEASURE)]
            # The refusal sits next to the box it is about, inside the screen.
            box = alert.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 390
    assert not found, "\n".join(found)
