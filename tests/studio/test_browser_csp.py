"""In headless Chromium, under the real CSP: no violation, and nothing loaded from elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD

pytestmark = pytest.mark.slow

# Injected by the browser driver, so the policy under test does not apply to it.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_pages_and_api_docs_render_under_the_policy_without_leaving_the_machine(
    tmp_path: Path, session, sequences_loaded, make_staff
) -> None:
    make_staff("editor@clinic.example", "editor")
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        context = b.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        context.add_init_script(WATCH_VIOLATIONS)
        elsewhere: list[str] = []
        console: list[str] = []

        def stay_home(route) -> None:  # type: ignore[no-untyped-def]
            url = route.request.url
            if url.startswith(base) or url.startswith(("data:", "about:", "blob:")):
                route.continue_()
            else:
                elsewhere.append(url)
                route.abort()

        context.route("**/*", stay_home)
        page = context.new_page()
        page.on(
            "console",
            lambda m: console.append(m.text) if m.type in ("error", "warning") else None,
        )

        def violations() -> list[str]:
            found: list[str] = page.evaluate("window.__violations")
            return found + [m for m in console if "Content Security Policy" in m]

        # The landing page: its script fills in the time zone.
        page.goto(base + "/")
        assert page.get_by_label("Your time zone").input_value()
        assert violations() == []

        # The API docs list the operations, with Swagger UI's files served from here.
        page.goto(base + "/docs")
        page.locator(".opblock").first.wait_for()
        assert page.locator(".opblock-summary-path", has_text="/api/appointments").count() >= 1
        assert violations() == []

        # Studio sign-in, then the step editor's live preview in its sandboxed srcdoc frame.
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("editor@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        assert violations() == []
        page.get_by_role("link", name="Numbness that has lasted a long time").first.click()
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.get_by_role("heading", name="Editing").wait_for()
        page.get_by_role("link", name="welcome").click()
        frame = page.frame_locator("#preview-frame")
        frame.get_by_text("unsubscribe", exact=False).first.wait_for()
        # The email's inline styles apply in the preview. The layout inlines its heading style
        # into the Markdown's heading; the button's rounded corners are in its cell's style
        # attribute alone (the layout's style block rounds the link, not the cell), so they
        # show only if the policy lets style attributes apply.
        page.get_by_label("Body", exact=True).fill(
            "# Hello {{ first_name }}\n\n[[button: Book an assessment | {{ booking_url }}]]"
        )
        frame.get_by_role("heading", name="Hello Sam").wait_for()
        heading = frame.locator("h1")
        assert "color: #12355b" in (heading.get_attribute("style") or "")
        assert heading.evaluate("h => getComputedStyle(h).color") == "rgb(18, 53, 91)"
        cell = frame.locator("td.button-cell")
        assert "border-radius:6px" in (cell.get_attribute("style") or "").replace(" ", "")
        assert cell.evaluate("c => getComputedStyle(c).borderTopLeftRadius") == "6px"

        # Discarding the draft asks first (the confirm moved from an inline handler to a file);
        # leaving the step editor with its unsaved edit asks too, and is allowed here.
        asked: list[str] = []

        def answer(dialog) -> None:  # type: ignore[no-untyped-def]
            if dialog.type == "beforeunload":
                dialog.accept()
            else:
                asked.append(dialog.message)
                dialog.dismiss()

        page.on("dialog", answer)
        page.goto(base + "/studio/sequences/chronic-basics/edit")
        page.get_by_role("button", name="Discard draft").click()
        assert asked
        assert "Discard draft v2?" in asked[0]
        page.get_by_role("heading", name="Editing").wait_for()
        assert violations() == []
        assert elsewhere == []
