"""A link that is expired or not valid leads somewhere: sign up again, book, or call the clinic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.clinic import service as clinic
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.leads.models import Lead
from nurture.messages.links import confirm_url

SIGNUP = {
    "email": "ana@example.com",
    "first_name": "Ana",
    "numbness_type": "acute",
    "timezone": "Europe/Paris",
    "consent": True,
}


def _ways(page: str) -> list[str]:
    return re.findall(r'<li><a href="([^"]+)"', page) + re.findall(r'href="(tel:[^"]+)"', page)


@pytest.mark.parametrize(
    "path",
    [
        "/confirm/not-a-token",
        "/unsubscribe/not-a-token",
        "/preferences/not-a-token",
        "/subscribe/sent?t=not-a-ticket",
    ],
)
def test_a_bad_lead_link_offers_signing_up_again_and_the_phone(client, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 400
    ways = _ways(page.text)
    assert "/" in ways
    assert clinic.effective().phone_link.startswith("tel:")
    assert clinic.effective().phone_link in ways


@pytest.mark.parametrize("path", ["/visit/not-a-token", "/attend/not-a-token"])
def test_a_bad_visit_link_offers_booking_and_the_phone(client, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 400
    ways = _ways(page.text)
    assert clinic.effective().booking_url in ways
    assert clinic.effective().phone_link in ways


def test_an_expired_confirmation_link_says_so_and_leads_on(client, session) -> None:
    client.post("/api/subscribe", json=SIGNUP)
    lead = session.scalars(select(Lead)).one()
    long_ago = datetime.now(UTC) - timedelta(hours=get_settings().confirm_link_max_age_hours + 1)
    with clock.frozen_at(long_ago):
        link = confirm_url(lead)
    page = client.get(link.removeprefix(get_settings().resolved_base_url))
    assert page.status_code == 400
    assert "expired" in page.text
    assert "Sign up again" in page.text
    assert clinic.effective().phone_link in _ways(page.text)
