"""Segments pick the leads they describe, on SQLite and PostgreSQL alike, and read forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core import clock
from nurture.enrollments.models import EnrollmentStatus
from nurture.enrollments.service import enroll
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.segments import (
    Segment,
    describe,
    lead_ids,
    parse_segment,
    segment_from_json,
    segment_to_json,
)
from tests.factories import make_lead

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def picked(session, segment: Segment) -> set[str]:  # type: ignore[no-untyped-def]
    """Return the emails of the leads a segment picks."""
    return set(session.scalars(select(Lead.email).where(Lead.id.in_(lead_ids(segment)))))


def visit(session, lead: Lead, starts_at: datetime, status: str) -> None:  # type: ignore[no-untyped-def]
    session.add(Appointment(lead_id=lead.id, starts_at=starts_at, timezone="UTC", status=status))
    session.flush()


def test_types_statuses_and_search(session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="ann@example.com", first_name="Ann", numbness_type="chronic")
    make_lead(
        session,
        email_address="bo@example.com",
        first_name="Bo",
        numbness_type="acute",
        status=LeadStatus.PENDING,
    )
    make_lead(session, email_address="cy_100%@example.com", first_name="Cy", numbness_type="unsure")
    assert picked(session, Segment()) == {
        "ann@example.com",
        "bo@example.com",
        "cy_100%@example.com",
    }
    assert picked(session, Segment(numbness_types=frozenset({"chronic", "acute"}))) == {
        "ann@example.com",
        "bo@example.com",
    }
    assert picked(session, Segment(statuses=frozenset({LeadStatus.PENDING}))) == {"bo@example.com"}
    # Search ignores case, looks at the first name too, and takes % and _ literally.
    assert picked(session, Segment(search="ANN")) == {"ann@example.com"}
    assert picked(session, Segment(search="bo")) == {"bo@example.com"}
    assert picked(session, Segment(search="_100%")) == {"cy_100%@example.com"}
    assert picked(session, Segment(search="%")) == {"cy_100%@example.com"}


def test_booked_means_a_visit_that_was_not_cancelled(session) -> None:  # type: ignore[no-untyped-def]
    never = make_lead(session, email_address="never@example.com")
    cancelled = make_lead(session, email_address="cancelled@example.com")
    upcoming = make_lead(session, email_address="upcoming@example.com")
    came = make_lead(session, email_address="came@example.com")
    visit(session, cancelled, NOW + timedelta(days=2), AppointmentStatus.CANCELLED)
    visit(session, upcoming, NOW + timedelta(days=2), AppointmentStatus.BOOKED)
    visit(session, came, NOW - timedelta(days=20), AppointmentStatus.ATTENDED)
    assert never.id
    assert picked(session, Segment(booked=True)) == {"upcoming@example.com", "came@example.com"}
    assert picked(session, Segment(booked=False)) == {"never@example.com", "cancelled@example.com"}


def test_last_visit_before_is_the_latest_attended_visit(session) -> None:  # type: ignore[no-untyped-def]
    lapsed = make_lead(session, email_address="lapsed@example.com")
    recent = make_lead(session, email_address="recent@example.com")
    missed = make_lead(session, email_address="missed@example.com")
    make_lead(session, email_address="never@example.com")
    visit(session, lapsed, datetime(2026, 5, 4, 14, tzinfo=UTC), AppointmentStatus.ATTENDED)
    # Booked again later but not yet attended: the last *attended* visit still counts.
    visit(session, lapsed, NOW + timedelta(days=3), AppointmentStatus.BOOKED)
    visit(session, recent, datetime(2026, 5, 4, 14, tzinfo=UTC), AppointmentStatus.ATTENDED)
    visit(session, recent, datetime(2026, 10, 1, 14, tzinfo=UTC), AppointmentStatus.ATTENDED)
    visit(session, missed, datetime(2026, 5, 4, 14, tzinfo=UTC), AppointmentStatus.NO_SHOW)
    assert picked(session, Segment(last_visit_before=date(2026, 9, 1))) == {"lapsed@example.com"}
    # The date itself is excluded: a visit on 1 Oct (clinic time) is not before 1 Oct.
    assert picked(session, Segment(last_visit_before=date(2026, 10, 1))) == {"lapsed@example.com"}
    assert picked(session, Segment(last_visit_before=date(2026, 10, 2))) == {
        "lapsed@example.com",
        "recent@example.com",
    }


def test_signup_dates_are_inclusive_days_in_the_clinics_zone(session) -> None:  # type: ignore[no-untyped-def]
    # The clinic is in New York: daylight time until 2 am on 1 Nov 2026, UTC-5 after.
    for name, at in (
        ("before", datetime(2026, 11, 1, 3, 59, tzinfo=UTC)),  # 31 Oct 23:59 local
        ("first", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),  # 1 Nov 00:00 local (EDT)
        ("last", datetime(2026, 12, 1, 4, 59, tzinfo=UTC)),  # 30 Nov 23:59 local
        ("after", datetime(2026, 12, 1, 5, 0, tzinfo=UTC)),  # 1 Dec 00:00 local
    ):
        make_lead(session, email_address=f"{name}@example.com", created_at=at)
    november = Segment(signed_up_from=date(2026, 11, 1), signed_up_to=date(2026, 11, 30))
    assert picked(session, november) == {"first@example.com", "last@example.com"}
    assert picked(session, Segment(signed_up_from=date(2026, 12, 1))) == {"after@example.com"}
    assert picked(session, Segment(signed_up_to=date(2026, 10, 31))) == {"before@example.com"}


def test_sequence_means_actively_enrolled(session, sequences_loaded) -> None:  # type: ignore[no-untyped-def]
    inside = make_lead(session, email_address="inside@example.com", numbness_type="chronic")
    left = make_lead(session, email_address="left@example.com", numbness_type="chronic")
    enroll(session, lead=inside, now=clock.now())
    gone = enroll(session, lead=left, now=clock.now())
    assert gone is not None
    gone.status = EnrollmentStatus.EXITED
    session.flush()
    slug = gone.version.sequence.slug
    assert picked(session, Segment(sequence_slug=slug)) == {"inside@example.com"}
    assert picked(session, Segment(sequence_slug="no-such-sequence")) == set()


def test_lead_ids_composes_with_other_queries(session) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        make_lead(session, email_address=f"c{i}@example.com", numbness_type="chronic")
    make_lead(session, email_address="a@example.com", numbness_type="acute")
    segment = Segment(numbness_types=frozenset({"chronic"}))
    assert session.scalar(select(func.count()).select_from(lead_ids(segment).subquery())) == 3
    newest = session.scalar(lead_ids(segment).order_by(Lead.id.desc()).limit(1))
    assert session.get(Lead, newest).email == "c2@example.com"


def test_parse_segment_reads_a_form_and_names_every_problem() -> None:
    segment, errors = parse_segment(
        {
            "numbness_type": ["chronic", "acute"],
            "status": "active",
            "booked": "no",
            "signed_up_from": "2026-11-01",
            "signed_up_to": "2026-11-30",
            "last_visit_before": "",
            "q": "  ann ",
        }
    )
    assert errors == {}
    assert segment == Segment(
        numbness_types=frozenset({"chronic", "acute"}),
        statuses=frozenset({"active"}),
        booked=False,
        signed_up_from=date(2026, 11, 1),
        signed_up_to=date(2026, 11, 30),
        search="ann",
    )
    _, errors = parse_segment(
        {
            "numbness_type": ["chronic", "sore"],
            "status": "gone",
            "booked": "maybe",
            "last_visit_before": "31/12/2026",
            "signed_up_from": "2026-12-01",
            "signed_up_to": "2026-11-01",
            "sequence": "Not A Slug!",
            "q": "x" * 201,
        }
    )
    assert set(errors) == {
        "numbness_type",
        "status",
        "booked",
        "last_visit_before",
        "signed_up_to",
        "sequence",
        "q",
    }
    assert "sore" in errors["numbness_type"]
    assert "YYYY-MM-DD" in errors["last_visit_before"]
    assert "before the 'from' date" in errors["signed_up_to"]


def test_describe_says_it_in_words() -> None:
    segment = Segment(
        numbness_types=frozenset({"chronic", "acute"}),
        booked=False,
        signed_up_from=date(2026, 11, 1),
        signed_up_to=date(2026, 11, 30),
    )
    assert describe(segment) == "Acute or chronic leads, not booked, signed up 1\u201330 Nov 2026"
    assert describe(Segment()) == "All leads"
    assert describe(
        Segment(
            statuses=frozenset({"active"}),
            last_visit_before=date(2026, 6, 1),
            signed_up_from=date(2025, 12, 1),
            sequence_slug="chronic-basics",
        )
    ) == (
        "All leads, subscribed, last visit before 1 Jun 2026, signed up from 1 Dec 2025, "
        "in sequence chronic-basics"
    )


def test_json_round_trip_and_refusals() -> None:
    segment = Segment(
        numbness_types=frozenset({"unsure"}),
        statuses=frozenset({"active", "pending"}),
        booked=True,
        last_visit_before=date(2026, 1, 2),
        signed_up_to=date(2026, 3, 4),
        sequence_slug="x",
        search="a",
    )
    data = segment_to_json(segment)
    assert data["statuses"] == ["active", "pending"]
    assert segment_from_json(data) == segment
    assert segment_from_json({}) == Segment()
    for bad in (
        {"numbness_types": ["sore"]},
        {"statuses": "active"},
        {"booked": "yes"},
        {"signed_up_from": "yesterday"},
        {"search": 3},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
            segment_from_json(bad)
