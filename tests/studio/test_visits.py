"""The studio's day view: a day's visits with each patient's answer and how to reach them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.appointments import attendance, service
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock

NEW_YORK = ZoneInfo("America/New_York")  # the clinic's default zone
NOW = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)  # Monday; "tomorrow" is Tuesday 24 March


def seed_day(session, day: datetime = datetime(2026, 3, 24, tzinfo=NEW_YORK)) -> None:  # type: ignore[no-untyped-def]
    """Book four visits: two on `day` (one confirmed), one cancelled, one the day after."""
    visits = [
        ("ann@example.com", "Ann", day.replace(hour=9), "confirm"),
        ("ben@example.com", "Ben", day.replace(hour=15, minute=30), None),
        ("cat@example.com", "Cat", day.replace(hour=11), "cancel"),
        ("dan@example.com", "Dan", day.replace(hour=10) + timedelta(days=1), "change"),
    ]
    for email, name, starts_at, then in visits:
        booked = service.book(
            session,
            data=AppointmentIn(
                email=email,
                first_name=name,
                starts_at=starts_at,
                timezone="America/New_York",
            ),
            now=NOW,
        ).appointment
        if then == "cancel":
            service.cancel(session, appointment=booked, now=NOW)
        elif then is not None:
            attendance.record_answer(
                session,
                appointment=booked,
                revision=booked.revision,
                confirm=then == "confirm",
                now=NOW,
            )
    session.commit()


def test_the_day_view_shows_tomorrows_visits_and_each_answer(studio, session) -> None:
    seed_day(session)
    with clock.frozen_at(NOW):
        page = studio.get("/studio/visits")
    assert page.status_code == 200
    html = page.text
    assert "2026-03-24" in html
    assert 'href="/studio/visits"' in html
    assert "Visits</a>" in html
    assert html.index("Ann") < html.index("Ben")  # in time order
    assert "Cat" not in html
    assert "Dan" not in html
    assert 'data-attendance="confirmed"' in html
    assert 'data-attendance="not confirmed"' in html
    assert '09:00 <span class="hint">America/New_York' in html
    assert 'href="mailto:ann@example.com"' in html
    assert "No phone number stored" in html
    assert 'href="/studio/visits?day=2026-03-23"' in html
    assert 'href="/studio/visits?day=2026-03-25"' in html

    after = studio.get("/studio/visits?day=2026-03-25").text
    assert "Dan" in after
    assert "Asked to change" in after
    assert "Ann" not in after


def test_a_bad_day_gets_a_clear_422_and_visitors_must_sign_in(studio, client) -> None:
    bad = studio.get("/studio/visits?day=tomorrow")
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.text
    studio.post("/studio/logout")
    anonymous = client.get("/studio/visits", follow_redirects=False)
    assert anonymous.status_code == 303
    assert "/studio/login" in anonymous.headers["location"]


def test_days_at_the_ends_of_the_calendar_are_a_422_naming_the_day(studio) -> None:
    for day in ("9999-12-31", "0001-01-01", "3000-01-01"):
        page = studio.get(f"/studio/visits?day={day}")
        assert page.status_code == 422, day
        assert f"Day: &#39;{day}&#39;" not in page.text  # the day is shown as written
        assert f"Day: {day} is outside the years 1900 to 2999" in page.text
    # The window's last day is a day like any other; its "next day" link leads to the refusal.
    last = studio.get("/studio/visits?day=2999-12-31")
    assert last.status_code == 200
    assert 'href="/studio/visits?day=3000-01-01"' in last.text


def test_a_visit_booked_by_staff_in_a_far_year_is_refused_in_words(studio, session) -> None:
    from sqlalchemy import select

    from nurture.appointments.models import Appointment
    from tests.factories import make_lead

    lead = make_lead(session, email_address="pat@example.com")
    session.commit()
    response = studio.post(
        f"/studio/leads/{lead.id}/appointments",
        {"starts_at": "9999-12-31T23:30", "timezone": "Pacific/Kiritimati"},
    )
    assert response.status_code == 303
    page = studio.get(response.headers["location"]).text
    assert "Not booked: 9999-12-31T23:30:00+14:00 is outside the years 1900 to 2999" in page
    assert session.scalars(select(Appointment)).all() == []
