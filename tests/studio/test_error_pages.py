"""Studio errors are pages in the studio's layout for a browser, JSON for scripts."""

from __future__ import annotations

import html

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_studio_errors_use_the_studio_layout(client, studio) -> None:
    missing = client.get("/studio/no-such-page", headers=BROWSER)
    assert missing.status_code == 404
    assert "Nurture studio" in missing.text
    invalid = client.get(f"/studio/leads/{2**70}", headers=BROWSER)  # a form's id, out of range
    assert invalid.status_code == 422
    assert "Nurture studio" in invalid.text
    assert "lead_id" in invalid.text
    assert client.get(f"/studio/leads/{2**70}").json()["error"] == "validation_failed"


def test_studio_errors_say_the_studios_own_reason(studio, sequences_loaded) -> None:
    # No draft open: the editor's 409 names what to do, not only "Conflict".
    page = studio.get("/studio/sequences/chronic-basics/edit/steps/1", headers=BROWSER)
    assert page.status_code == 409
    text = html.unescape(page.text)
    assert "That can't be done as things stand" in text
    assert "This sequence has no draft; start editing it first." in text
    gone = studio.get("/studio/sequences/no-such-sequence", headers=BROWSER)
    assert gone.status_code == 404
    assert "No sequence called no-such-sequence." in gone.text
