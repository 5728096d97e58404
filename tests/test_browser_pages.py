"""Every page a patient meets fits a 390 px phone screen without sideways scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from nurture.leads.models import Lead
from nurture.messages.links import confirm_url, preferences_url, unsubscribe_url
from tests.browser import browser
from tests.processes import serving_web

pytestmark = pytest.mark.slow

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_patient_pages_fit_a_phone(tmp_path: Path, session, sequences_loaded, settings) -> None:
    with serving_web(tmp_path) as base, browser() as b:
        settings(base_url=base)  # links signed here must point at the server under test
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        widths: dict[str, int] = {}

        page.goto(base + "/")
        widths["landing"] = page.evaluate(OVERFLOW)
        page.get_by_role("button", name="Send me the guides").click()  # every field missing
        widths["landing with errors"] = page.evaluate(OVERFLOW)
        page.get_by_label("First name").fill("Maximiliana")
        page.get_by_label("Email address").fill("maximiliana.long-surname@example.com")
        page.get_by_role("radio", name="It comes and goes").check()
        page.get_by_label("Yes, email me helpful information", exact=False).check()
        page.get_by_role("button", name="Send me the guides").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        widths["check inbox"] = page.evaluate(OVERFLOW)

        session.expire_all()
        lead = session.scalars(select(Lead)).one()
        page.goto(confirm_url(lead))
        page.get_by_role("heading", name="One last step, Maximiliana").wait_for()
        widths["confirm"] = page.evaluate(OVERFLOW)
        page.get_by_role("button", name="Yes, confirm my email").click()
        page.get_by_role("heading", name="You're confirmed, Maximiliana").wait_for()
        widths["confirmed"] = page.evaluate(OVERFLOW)
        page.goto(preferences_url(lead))
        widths["preferences"] = page.evaluate(OVERFLOW)
        page.goto(unsubscribe_url(lead))
        page.get_by_role("button", name="Unsubscribe me").click()
        page.get_by_role("heading", name="You're unsubscribed").wait_for()
        widths["unsubscribed"] = page.evaluate(OVERFLOW)
        page.goto(base + "/privacy")
        widths["privacy"] = page.evaluate(OVERFLOW)
        # Spanish runs longer than English: the same pages, with the language switch.
        page.goto(base + "/?lang=es")
        page.get_by_role("button", name="Envíenme las guías").click()  # every field missing
        widths["landing in Spanish, with errors"] = page.evaluate(OVERFLOW)
        page.goto(base + "/privacy?lang=es")
        widths["privacy in Spanish"] = page.evaluate(OVERFLOW)
        response = page.goto(base + "/no-such-page")
        assert response is not None
        assert response.status == 404
        page.get_by_role("heading", name="We couldn't find that page").wait_for()
        widths["error"] = page.evaluate(OVERFLOW)
    assert widths == dict.fromkeys(widths, 0)
    session.expire_all()
    assert session.scalars(select(Lead)).one().timezone  # the browser's zone, picked by script


def test_check_inbox_and_dead_link_pages_fit_a_phone_with_a_long_address(
    tmp_path: Path, session, sequences_loaded, settings
) -> None:
    address = "maximilianaalexandrinakonstantinopouloumustermann@example.com"
    with serving_web(tmp_path) as base, browser() as b:
        settings(base_url=base)
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        widths: dict[str, int] = {}
        page.goto(base + "/")
        page.get_by_label("First name").fill("Maximiliana")
        page.get_by_label("Email address").fill(address)
        page.get_by_role("radio", name="It comes and goes").check()
        page.get_by_label("Yes, email me helpful information", exact=False).check()
        page.get_by_role("button", name="Send me the guides").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        assert address in page.content()
        widths["check inbox"] = page.evaluate(OVERFLOW)
        for path in ("/confirm/not-a-token", "/visit/not-a-token", "/subscribe/sent?t=x"):
            page.goto(base + path)
            page.get_by_role("heading", name="What you can do").wait_for()
            widths[path] = page.evaluate(OVERFLOW)
    assert widths == dict.fromkeys(widths, 0)
