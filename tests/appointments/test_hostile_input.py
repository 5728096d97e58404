"""The appointments API under hostile input: 4xx with a message, never a 500 or a half-write;
and a PATCH that changes nothing changes nothing (no re-booking, no update email)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock
from nurture.leads.models import Lead
from nurture.outbox.models import Message

NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
BOOKING = {
    "email": "pat@example.com",
    "first_name": "Pat",
    "starts_at": VISIT.isoformat(),
    "timezone": "Europe/Berlin",
    "duration_minutes": 45,
    "location": "Room 2",
    "external_id": "ext-1",
}


@pytest.fixture
def api(client, session):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    token = result.stdout.strip().splitlines()[0]

    def call(method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        with clock.frozen_at(NOW):
            return client.request(method, path, headers=headers, **kwargs)

    return call


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("raw_id", ["999999999999999999999999", "9" * 5000, "0", "-1"])
def test_ids_beyond_64_bits_are_a_422_naming_the_id(api, method, raw_id) -> None:
    response = api(method, f"/api/appointments/{raw_id}", json={})
    assert response.status_code == 422, response.text
    assert "appointment_id" in response.json()["fields"]


def test_largest_64_bit_id_is_simply_not_found(api) -> None:
    response = api("PATCH", f"/api/appointments/{2**63 - 1}", json={})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": "Pat\u2028Lee"}, "first_name"),
        ({"first_name": "=?utf-8?q?Pat=0D=0ABcc=3A_evil=40evil.example?="}, "first_name"),
        ({"first_name": "Pat\x00"}, "first_name"),
        ({"location": "Room\x002"}, "location"),
        ({"external_id": "ext\x00"}, "external_id"),
        ({"email": "pat\x00@example.com"}, "email"),
    ],
)
def test_bad_text_is_refused_and_nothing_is_written(api, session, change, field) -> None:
    response = api("POST", "/api/appointments", json={**BOOKING, **change})
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert _count(session, Lead) == 0
    assert _count(session, Appointment) == 0


@pytest.mark.parametrize("field", ["duration_minutes", "duration_minutes_x", "location"])
def test_a_number_of_thousands_of_digits_is_a_422_naming_its_field(api, session, field) -> None:
    body = json.dumps({k: v for k, v in BOOKING.items() if k != field})[:-1]
    body += f', "{field}": ' + "9" * 5000 + "}"
    response = api(
        "POST", "/api/appointments", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "validation_failed"
    assert "too many digits" in answer["fields"][field]
    assert field in answer["message"]
    assert _count(session, Appointment) == 0


def test_a_patch_with_a_number_of_thousands_of_digits_names_its_field(api, session) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    response = api(
        "PATCH",
        f"/api/appointments/{created['id']}",
        content='{"duration_minutes": -' + "9" * 5000 + "}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "too many digits" in response.json()["fields"]["duration_minutes"]


def test_patch_with_nul_is_refused(api, session) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    response = api("PATCH", f"/api/appointments/{created['id']}", json={"location": "a\x00b"})
    assert response.status_code == 422
    assert "NUL" in response.json()["fields"]["location"]


def _messages(session) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.scalars(select(Message).order_by(Message.id))
    return [(m.reminder or "", m.status) for m in rows]


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"starts_at": VISIT.isoformat()},
        {"starts_at": VISIT.astimezone(UTC).isoformat(), "timezone": "Europe/Berlin"},
        {"location": "Room 2", "duration_minutes": 45},
    ],
)
def test_patch_that_changes_nothing_never_rebooks_a_cancelled_visit(api, session, patch) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    cancelled = api("DELETE", f"/api/appointments/{created['id']}").json()
    before = _messages(session)
    response = api("PATCH", f"/api/appointments/{created['id']}", json=patch)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["revision"] == cancelled["revision"]
    assert _messages(session) == before


def test_patch_that_changes_nothing_sends_no_update(api, session) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    before = _messages(session)
    response = api(
        "PATCH", f"/api/appointments/{created['id']}", json={"starts_at": VISIT.isoformat()}
    )
    assert response.json()["revision"] == created["revision"]
    assert _messages(session) == before
    assert not any(name.startswith("notice") for name, _ in before)


def test_a_real_change_still_moves_and_reopens(api, session) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    api("DELETE", f"/api/appointments/{created['id']}")
    later = (VISIT + timedelta(days=1)).isoformat()
    moved = api("PATCH", f"/api/appointments/{created['id']}", json={"starts_at": later}).json()
    assert moved["status"] == "booked"
    assert ("notice@r2", "pending") in _messages(session)


def test_recording_an_outcome_twice_changes_it_once(api, session) -> None:
    created = api("POST", "/api/appointments", json=BOOKING).json()
    path = f"/api/appointments/{created['id']}"
    assert api("PATCH", path, json={"status": "attended"}).json()["status"] == "attended"
    before = _messages(session)
    assert api("PATCH", path, json={"status": "attended"}).json()["status"] == "attended"
    assert _messages(session) == before


@pytest.mark.parametrize(
    "body",
    ['{"email": ' + "[" * 5000 + "]" * 5000 + "}", '{"email": "pat@', b'{"email": "\xff"}'],
)
def test_a_body_that_is_not_usable_json_is_a_400(api, session, body) -> None:
    response = api(
        "POST", "/api/appointments", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_json"
    assert _count(session, Appointment) == 0
