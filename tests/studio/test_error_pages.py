"""Studio errors are pages in the studio's layout for a browser, JSON for scripts."""

from __future__ import annotations

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
