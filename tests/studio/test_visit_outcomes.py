"""Staff mark a visit that has begun as attended or missed in the day view; the outcome's
journeys start as a status change from anywhere else would start them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.appointments import service
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.studio.models import AuditEntry
from tests.appointments.test_first_seen_outcomes import NOW, journeys
from tests.factories import make_lead

pytestmark = pytest.mark.usefixtures("sequences_loaded")


def _booked(session, email: str, starts_at: datetime) -> Appointment:  # type: ignore[no-untyped-def]
    make_lead(session, email_address=email)
    session.commit()
    visit = service.book(
        session,
        data=AppointmentIn(email=email, starts_at=starts_at, timezone="America/New_York"),
        now=starts_at - timedelta(days=3),
    ).appointment
    session.commit()
    return visit


@pytest.mark.parametrize(
    ("outcome", "slug", "shown"),
    [("attended", "after-visit", "Came"), ("no_show", "no-show", "Missed")],
)
def test_staff_mark_a_visit_in_the_day_view_and_its_journeys_start(
    studio, session, outcome: str, slug: str, shown: str
) -> None:
    visit = _booked(session, "pat@example.com", NOW - timedelta(hours=2))
    later = _booked(session, "kim@example.com", NOW + timedelta(hours=2))
    with clock.frozen_at(NOW):
        page = studio.get("/studio/visits?day=2026-03-23").text
        assert f'action="/studio/visits/{visit.id}/outcome"' in page
        # A visit that has not begun offers nothing to mark.
        assert f'action="/studio/visits/{later.id}/outcome"' not in page
        marked = studio.post(f"/studio/visits/{visit.id}/outcome", {"outcome": outcome})
        assert marked.status_code == 303
        assert marked.headers["location"] == "/studio/visits?day=2026-03-23"
        after = studio.get("/studio/visits?day=2026-03-23").text
    assert shown in after
    session.expire_all()
    assert session.get(Appointment, visit.id).status == outcome
    assert journeys(session) == [("pat@example.com", slug)]
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == f"appointment.{outcome}")
    ).one()
    assert entry.target == f"appointment {visit.id}"
    assert (entry.before, entry.after) == ({"status": "booked"}, {"status": outcome})


def test_marking_needs_the_forms_token_and_a_visit_that_has_begun(studio, session) -> None:
    visit = _booked(session, "pat@example.com", NOW - timedelta(hours=2))
    later = _booked(session, "kim@example.com", NOW + timedelta(hours=2))
    with clock.frozen_at(NOW):
        studio.get("/studio/visits")
        forged = studio.client.post(
            f"/studio/visits/{visit.id}/outcome",
            data={"outcome": "attended"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        early = studio.post(f"/studio/visits/{later.id}/outcome", {"outcome": "attended"})
        assert early.status_code == 303
        assert "has not begun" in studio.get(early.headers["location"]).text
        odd = studio.post(f"/studio/visits/{visit.id}/outcome", {"outcome": "cancelled"})
        assert odd.status_code == 303
    session.expire_all()
    assert session.get(Appointment, visit.id).status == "booked"
    assert session.get(Appointment, later.id).status == "booked"
    assert journeys(session) == []
    marks = select(AuditEntry).where(AuditEntry.action.in_(["appointment.attended"]))
    assert session.scalars(marks).all() == []
