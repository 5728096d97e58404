"""Every time the studio shows says which zone it is in."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from tests.studio.conftest import Studio

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
VISIT = datetime(2026, 12, 4, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))


def test_visit_and_outbox_times_name_their_zone(studio: Studio, session) -> None:
    data = AppointmentIn(email="pat@example.com", starts_at=VISIT, timezone="Europe/Berlin")
    lead_id = appointments.book(session, data=data, now=NOW).appointment.lead_id
    session.commit()
    lead_page = studio.get(f"/studio/leads/{lead_id}").text
    # The visit in the patient's zone, with its abbreviation and its name.
    assert "Fri 04 Dec 2026 10:30 CET" in lead_page
    assert "Europe/Berlin" in lead_page
    # Planned emails in the clinic's zone (America/New_York), named.
    outbox = studio.get("/studio/outbox?status=pending").text
    assert "2026-11-23 04:00 EST" in outbox  # the confirmation, due at booking
    due = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d)([^<]*)</td>", outbox)
    assert due
    assert all(zone in (" EST", " EDT") for _, zone in due), due


def test_simulator_columns_name_their_zones(studio: Studio, sequences_loaded) -> None:
    page = studio.get(
        "/studio/simulator?sequence=chronic-basics&day=2027-01-04&at=21:00&timezone=Europe/Berlin"
    ).text
    assert '<th scope="col">Time (Europe/Berlin)</th>' in page
    clinic_times = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d)([^<]*)</td><td>", page)
    assert clinic_times
    assert all(zone == " EST" for _, zone in clinic_times), clinic_times


def test_the_simulator_says_why_an_email_goes_outside_sending_hours(
    studio: Studio, sequences_loaded
) -> None:
    page = studio.get(
        "/studio/simulator?sequence=chronic-basics&day=2027-01-04&at=21:00&timezone=Europe/Berlin"
    ).text
    rows = re.findall(r"<tr><td>(\d+)</td>.*?</tr>", page, re.S)
    first = re.search(r"<tr><td>1</td>(.*?)</tr>", page, re.S)
    assert rows
    assert first is not None
    assert "21:00" in first.group(1)
    assert "goes at once, even outside sending hours (09:00 to 19:00)" in first.group(1)


def test_the_simulator_finds_a_time_zone_by_city(studio: Studio, sequences_loaded) -> None:
    page = studio.get("/studio/simulator?sequence=chronic-basics").text
    assert '<option value="America/Argentina/Buenos_Aires" label="Buenos Aires (America)">' in page
    assert '<option value="Europe/Berlin" label="Berlin (Europe)">' in page
    wrong = studio.get("/studio/simulator?sequence=chronic-basics&timezone=Berlin")
    assert wrong.status_code == 422
    assert "type a city, such as Berlin" in wrong.text
    assert "IANA" not in wrong.text
