"""A visit first heard of with its outcome (attended, missed) starts that outcome's journeys when
it is recent, by every way a visit arrives: a practice system's export, the API, the studio's day
view. An old one is history and starts nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock
from nurture.enrollments.models import Enrollment
from nurture.sequences.models import Sequence
from tests.factories import make_lead

NOW = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)
HEADER = "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"

pytestmark = pytest.mark.usefixtures("sequences_loaded")


def journeys(session) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(lead's address, sequence slug) of every enrollment, sorted."""
    session.expire_all()
    from nurture.leads.models import Lead

    rows = session.execute(
        select(Lead.email, Sequence.slug)
        .join(Enrollment, Enrollment.lead_id == Lead.id)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
    ).all()
    return sorted((email, slug) for email, slug in rows)


def _import(tmp_path: Path, rows: str) -> str:
    path = tmp_path / "visits.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with clock.frozen_at(NOW):
        result = CliRunner().invoke(main, ["visits", "import", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout


def _ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def test_an_import_of_recent_outcomes_starts_their_journeys_and_old_ones_nothing(
    tmp_path: Path, session
) -> None:
    for name in ("came", "missed", "old", "older"):
        make_lead(session, email_address=f"{name}@example.com")
    session.commit()
    out = _import(
        tmp_path,
        f"v1,came@example.com,Ann,{_ago(days=2)},Europe/Berlin,30,,attended\n"
        f"v2,missed@example.com,Ben,{_ago(hours=3)},Europe/Berlin,30,,no_show\n"
        f"v3,old@example.com,Cat,{_ago(days=7, hours=1)},Europe/Berlin,30,,attended\n"
        f"v4,older@example.com,Dan,{_ago(days=300)},Europe/Berlin,30,,no_show\n",
    )
    assert "4 created" in out
    assert "2 recent visit(s) attended or missed started their journeys" in out
    assert journeys(session) == [
        ("came@example.com", "after-visit"),
        ("missed@example.com", "no-show"),
    ]
    # The same file again: nothing new is first seen, nothing starts twice.
    again = _import(
        tmp_path,
        f"v1,came@example.com,Ann,{_ago(days=2)},Europe/Berlin,30,,attended\n"
        f"v2,missed@example.com,Ben,{_ago(hours=3)},Europe/Berlin,30,,no_show\n",
    )
    assert "2 unchanged" in again
    assert "started their journeys" not in again
    assert len(journeys(session)) == 2


def test_the_lookback_is_a_setting(tmp_path: Path, session, settings) -> None:
    settings(journey_lookback_days="30")
    make_lead(session, email_address="old@example.com")
    session.commit()
    _import(tmp_path, f"v3,old@example.com,Cat,{_ago(days=20)},Europe/Berlin,30,,attended\n")
    assert journeys(session) == [("old@example.com", "after-visit")]


def test_a_lookback_of_zero_days_starts_nothing_from_the_past(
    tmp_path: Path, session, settings
) -> None:
    settings(journey_lookback_days="0")
    make_lead(session, email_address="came@example.com")
    session.commit()
    _import(tmp_path, f"v1,came@example.com,Ann,{_ago(hours=1)},Europe/Berlin,30,,attended\n")
    assert journeys(session) == []


@pytest.fixture
def api(client, session):  # type: ignore[no-untyped-def]
    made = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]

    def post(body: dict[str, object]):  # type: ignore[no-untyped-def]
        with clock.frozen_at(NOW):
            return client.post(
                "/api/appointments", json=body, headers={"Authorization": f"Bearer {token}"}
            )

    return post


def _visit(email: str, starts_at: str, status: str, external_id: str) -> dict[str, object]:
    return {
        "email": email,
        "first_name": "Pat",
        "starts_at": starts_at,
        "timezone": "Europe/Berlin",
        "external_id": external_id,
        "status": status,
    }


def test_the_api_records_a_visit_with_its_outcome_and_starts_recent_journeys(api, session) -> None:
    for name in ("came", "missed", "old"):
        make_lead(session, email_address=f"{name}@example.com")
    session.commit()
    came = api(_visit("came@example.com", _ago(days=1), "attended", "e1"))
    assert came.status_code == 201, came.text
    assert came.json()["status"] == "attended"
    assert came.json()["reminders"] == []  # nothing about a visit that is over
    missed = api(_visit("missed@example.com", _ago(hours=2), "no_show", "e2"))
    assert missed.status_code == 201, missed.text
    old = api(_visit("old@example.com", _ago(days=40), "attended", "e3"))
    assert old.status_code == 201, old.text
    assert journeys(session) == [
        ("came@example.com", "after-visit"),
        ("missed@example.com", "no-show"),
    ]
    # Sent again: the same visit with the same outcome changes nothing and starts nothing.
    assert api(_visit("came@example.com", _ago(days=1), "attended", "e1")).status_code == 200
    assert len(journeys(session)) == 2


def test_the_api_refuses_an_outcome_for_a_visit_not_yet_begun(api, session) -> None:
    response = api(
        _visit("soon@example.com", (NOW + timedelta(days=1)).isoformat(), "attended", "e")
    )
    assert response.status_code == 422
    assert "starts_at" in response.json()["fields"]
    assert session.scalars(select(Appointment)).all() == []
