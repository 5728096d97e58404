"""Dates typed into the studio near the ends of the calendar are refused in words, never a 500."""

from __future__ import annotations

from typing import Any

from tests.studio.conftest import Studio
from tests.studio.test_broadcasts import create
from tests.studio.test_clinic_settings import URL, _form

FAR = "9999-12-31"


def test_a_leads_filter_on_the_last_day_of_the_calendar_says_what_to_fix(studio: Studio) -> None:
    for name, label in (("signed_up_to", "Signed up to"), ("last_visit_before", "Last visit")):
        response = studio.get(f"/studio/leads?{name}={FAR}")
        assert response.status_code == 400, name
        assert f"{FAR} is outside the years 1900 to 2999" in response.text
        assert label in response.text


def test_the_simulator_refuses_a_far_day(studio: Studio, sequences_loaded: None) -> None:
    page = studio.get(
        f"/studio/simulator?sequence=chronic-basics&day={FAR}&at=23:00&timezone=Pacific/Kiritimati"
    )
    assert page.status_code == 422
    assert f"{FAR} is outside the years 1900 to 2999" in page.text


def test_a_broadcast_scheduled_for_a_far_year_is_refused(studio: Studio, session: Any) -> None:
    broadcast = create(studio)
    url = f"/studio/broadcasts/{broadcast.id}/schedule"
    response = studio.post(url, {"when": "later", "send_at": f"{FAR}T23:00"})
    assert response.status_code == 422
    assert f"{FAR} is outside the years 1900 to 2999" in response.text


def test_a_closure_in_a_far_year_is_refused_beside_its_field(admin_studio: Any) -> None:
    response = admin_studio.post(URL, _form(clinic_closures=f"2026-12-25\n{FAR}"))
    assert response.status_code == 422
    assert f"{FAR} is outside the years 1900 to 2999" in response.text
