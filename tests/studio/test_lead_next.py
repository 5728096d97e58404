"""What a person gets next, and when: planned emails and the rest of their sequence."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nurture.delivery.models import Message
from nurture.enrollments.service import enroll
from nurture.sequences.simulate import simulate
from tests.factories import make_lead
from tests.studio.conftest import Studio

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 4 January 2027, 21:00 in Berlin: after the chronic sequence's sending hours.
CONFIRMED = datetime(2027, 1, 4, 20, 0, tzinfo=UTC)


def test_what_ana_gets_next_and_when(studio: Studio, session, sequences_loaded) -> None:
    ana = make_lead(session, email_address="ana@example.com", first_name="Ana")
    enrollment = enroll(session, lead=ana, now=CONFIRMED)
    session.commit()
    messages = session.scalar(select(func.count()).select_from(Message))
    page = studio.get(f"/studio/leads/{ana.id}/next")
    assert page.status_code == 200
    assert "What Ana gets next, and when" in page.text
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(Planned|Expected)",
        page.text.replace("&#39;", "'"),
    )
    expected = simulate(enrollment.version, confirmed_at=CONFIRMED, tz=BERLIN)
    assert [(when, state) for when, _, state in rows] == [
        (e.local.strftime("%a %d %b %Y, %H:%M"), "Planned" if i == 0 else "Expected")
        for i, e in enumerate(expected)
    ]
    assert rows[0][0] == "Mon 04 Jan 2027, 21:00"
    assert rows[1][1].startswith("Numbness that has lasted a long time, email 2:")
    # Reading it changes nothing: no email is planned by looking.
    assert session.scalar(select(func.count()).select_from(Message)) == messages
    lead_page = studio.get(f"/studio/leads/{ana.id}").text
    assert f'href="/studio/leads/{ana.id}/next"' in lead_page


def test_nothing_planned_says_so(studio: Studio, session) -> None:
    quiet = make_lead(session, email_address="quiet@example.com", first_name="Bo")
    session.commit()
    page = studio.get(f"/studio/leads/{quiet.id}/next").text
    assert "Nothing is planned for Bo" in page
    assert studio.get("/studio/leads/999999/next").status_code == 404
