"""Dates near the ends of the calendar: every way a time arrives answers 422 naming the field.

Python's calendar ends at 9999-12-31, so `9999-12-31T23:59:59-12:00` is a time past its end once
moved to UTC, and a visit on the last day has no day after it. Each input below used to fail
deep inside (a 500, a traceback) instead of being refused where it is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock, dates
from nurture.leads.models import Lead
from tests.appointments.test_calcom import SECRET, T0, VISIT, booking, post

LAST = "9999-12-31T23:59:59-12:00"
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [LAST, "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "3000-01-01T00:00:00Z"],
)
def test_far_times_are_refused_in_words(text: str) -> None:
    with pytest.raises(dates.DateError, match="outside the years 1900 to 2999"):
        dates.parse_moment(text)


def test_one_rule_for_times_without_an_offset() -> None:
    with pytest.raises(dates.DateError, match="has no UTC offset"):
        dates.parse_moment("2026-03-27T10:00:00")
    plus_one = timezone(timedelta(hours=1))
    read = dates.parse_moment("2026-03-27T10:00:00", naive_zone=plus_one)
    assert read == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    # The last day of the window with a negative offset is already past it in UTC.
    with pytest.raises(dates.DateError, match="outside the years"):
        dates.parse_moment("2999-12-31T23:59:59-12:00")
    assert dates.parse_moment("2999-12-31T11:59:59-12:00").year == 2999


@pytest.fixture
def api(client, session):  # type: ignore[no-untyped-def]
    made = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]

    def call(method: str, path: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
        with clock.frozen_at(NOW):
            return client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )

    return call


def _visit(starts_at: str) -> dict[str, object]:
    return {"email": "pat@example.com", "starts_at": starts_at, "timezone": "Europe/Berlin"}


@pytest.mark.parametrize("starts_at", [LAST, "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00Z"])
def test_the_api_refuses_a_visit_at_the_end_of_the_calendar(api, session, starts_at) -> None:
    response = api("POST", "/api/appointments", _visit(starts_at))
    assert response.status_code == 422, response.text
    assert "outside the years" in response.json()["fields"]["starts_at"]
    assert session.scalars(select(Lead)).all() == []


def test_a_move_to_the_end_of_the_calendar_is_refused(api, session) -> None:
    booked = api("POST", "/api/appointments", _visit("2026-03-27T10:00:00+01:00"))
    assert booked.status_code == 201, booked.text
    moved = api("PATCH", f"/api/appointments/{booked.json()['id']}", {"starts_at": LAST})
    assert moved.status_code == 422, moved.text
    assert "outside the years" in moved.json()["fields"]["starts_at"]
    session.expire_all()
    [visit] = session.scalars(select(Appointment)).all()
    assert (visit.revision, visit.starts_at) == (0, datetime(2026, 3, 27, 9, 0, tzinfo=UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        # One end with an offset and the other without: refused by the one rule, by name.
        (_iso(VISIT), "2026-03-27T09:45:00", "endTime"),
        ("2026-03-27T09:00:00", _iso(VISIT + timedelta(minutes=45)), "startTime"),
        (LAST, _iso(VISIT), "startTime"),
        (_iso(VISIT), LAST, "endTime"),
    ],
)
def test_a_calcom_booking_with_unusable_times_is_a_422_naming_them(
    client, session, settings, start: str, end: str, field: str
) -> None:
    settings(calcom_webhook_secret=SECRET)
    response = post(
        client, "BOOKING_CREATED", booking("u1", VISIT, startTime=start, endTime=end), T0
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert session.scalars(select(Appointment)).all() == []


def test_a_calcom_event_stamped_at_the_end_of_the_calendar_is_a_422(
    client, session, settings
) -> None:
    settings(calcom_webhook_secret=SECRET)
    payload = booking("u1", VISIT)
    # createdAt as Cal.com writes it, but in year 9999 with a negative offset.
    envelope = {"triggerEvent": "BOOKING_CREATED", "createdAt": LAST, "payload": payload}
    body = json.dumps(envelope).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with clock.frozen_at(T0 + timedelta(hours=1)):
        response = client.post(
            "/webhooks/calcom",
            content=body,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
        )
    assert response.status_code == 422, response.text
    assert "outside the years" in response.json()["fields"]["createdAt"]
    assert session.scalars(select(Appointment)).all() == []


def _import(tmp_path: Path, *lines: str) -> object:
    path = tmp_path / "visits.csv"
    header = "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"
    path.write_text(header + "".join(lines), encoding="utf-8")
    with clock.frozen_at(NOW):
        return CliRunner().invoke(main, ["visits", "import", str(path)])


def test_a_visits_file_with_a_far_date_names_the_line(tmp_path: Path, session) -> None:
    result = _import(
        tmp_path,
        "v1,pat@example.com,Pat,2026-03-27T10:00:00+01:00,Europe/Berlin,30,,booked\n",
        f"v2,kim@example.com,Kim,{LAST},Europe/Berlin,30,,booked\n",
        "v3,ann@example.com,Ann,9999-12-31T23:00:00+00:00,Europe/Berlin,30,,attended\n",
    )
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    assert f"line 3: starts_at: {LAST} is outside the years 1900 to 2999" in output
    assert "line 4: starts_at: 9999-12-31T23:00:00+00:00 is outside the years" in output
    assert session.scalars(select(Appointment)).all() == []


def test_a_leads_file_with_a_far_consent_time_names_the_line(tmp_path: Path, session) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,first_name,numbness_type,timezone,consent_at,consent_source\n"
        f"pat@example.com,Pat,acute,Europe/Berlin,{LAST},old tool\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert "line 2" in result.output
    assert "outside the years 1900 to 2999" in result.output
    assert session.scalars(select(Lead)).all() == []


def test_the_tick_refuses_a_far_now(session) -> None:
    result = CliRunner().invoke(main, ["tick", "--now", LAST])
    assert result.exit_code == 2, result.output
    assert "--now" in result.output
    assert "outside the years" in result.output
