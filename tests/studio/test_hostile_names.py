"""Studio pages under hostile input: names, ids and token names get a message, never a 500."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.outbox.models import Message
from nurture.staff.models import ApiToken
from tests.factories import make_lead
from tests.studio.conftest import Studio


def test_moving_a_visit_to_its_own_time_changes_nothing(studio: Studio, session) -> None:
    lead = make_lead(session, timezone="Europe/Berlin")
    session.commit()
    when = (clock.now() + timedelta(days=5)).astimezone().strftime("%Y-%m-%dT10:30")
    studio.post(
        f"/studio/leads/{lead.id}/appointments", {"starts_at": when, "timezone": "Europe/Berlin"}
    )
    visit = session.scalar(select(Appointment))
    planned = session.scalar(select(func.count(Message.id)))
    response = studio.post(
        f"/studio/leads/{lead.id}/appointments/{visit.id}/move",
        {"starts_at": when, "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Appointment, visit.id).revision == 0
    assert session.scalar(select(func.count(Message.id))) == planned
    assert "already at that time" in studio.get(f"/studio/leads/{lead.id}").text


def test_staff_can_book_for_a_lead_whose_stored_name_predates_the_checks(
    studio: Studio, session
) -> None:
    lead = make_lead(session, first_name="=?utf-8?q?Ann=0D=0ABcc=3A_evil=40evil.example?=")
    session.commit()
    when = (clock.now() + timedelta(days=5)).astimezone().strftime("%Y-%m-%dT10:30")
    studio.post(
        f"/studio/leads/{lead.id}/appointments", {"starts_at": when, "timezone": "Europe/Berlin"}
    )
    assert session.scalar(select(func.count(Appointment.id))) == 1


def test_ids_beyond_64_bits_are_refused_not_crashed(studio: Studio) -> None:
    huge = "999999999999999999999999"
    assert studio.get(f"/studio/leads/{huge}").status_code == 422
    moved = studio.post(f"/studio/leads/1/appointments/{huge}/move", {"starts_at": "x"})
    assert moved.status_code == 422


def test_token_names_with_control_characters_are_refused(admin_studio: Studio, session) -> None:
    response = admin_studio.post("/studio/admin/tokens", {"name": "booking\x00system"})
    assert response.status_code == 303
    assert session.scalar(select(func.count(ApiToken.id))) == 0
    assert "control or invisible characters" in admin_studio.get("/studio/admin").text
