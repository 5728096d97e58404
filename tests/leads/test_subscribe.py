"""Signup over the JSON API and the landing page form: validation, privacy, no half-writes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.outbox.models import Message

GOOD = {
    "email": "Ann.Lee@Example.COM",
    "first_name": "Ann",
    "numbness_type": "chronic",
    "timezone": "Europe/Berlin",
    "consent": True,
}


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def test_new_signup_creates_pending_lead_consent_and_confirmation(client, session) -> None:
    response = client.post("/api/subscribe", json=GOOD, headers={"User-Agent": "pytest-agent"})
    assert response.status_code == 202
    assert response.json()["status"] == "pending_confirmation"
    lead = session.scalars(select(Lead)).one()
    assert lead.email == "ann.lee@example.com"
    assert lead.status == LeadStatus.PENDING
    assert lead.timezone == "Europe/Berlin"
    consent = session.scalars(select(ConsentRecord)).one()
    assert consent.lead_id == lead.id
    assert consent.user_agent == "pytest-agent"
    assert consent.text_version
    assert consent.confirmed_at is None
    message = session.scalars(select(Message)).one()
    assert message.template == "confirm"
    assert message.stream == "transactional"


def test_existing_address_gets_identical_answer_and_no_second_row(client, session) -> None:
    first = client.post("/api/subscribe", json=GOOD)
    again = client.post("/api/subscribe", json={**GOOD, "email": "ann.lee@example.com"})
    assert (first.status_code, first.content) == (again.status_code, again.content)
    assert _count(session, Lead) == 1
    # Within the resend window the confirmation email is not planned twice either.
    assert _count(session, Message) == 1


def test_active_lead_gets_same_answer_and_nothing_is_sent(client, session) -> None:
    client.post("/api/subscribe", json=GOOD)
    lead = session.scalars(select(Lead)).one()
    lead.status = LeadStatus.ACTIVE
    session.commit()
    response = client.post("/api/subscribe", json=GOOD)
    assert response.status_code == 202
    assert response.json()["status"] == "pending_confirmation"
    assert _count(session, Message) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"numbness_type": "sudden"}, "numbness_type"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"consent": False}, "consent"),
        ({"consent": None}, "consent"),
        ({"first_name": "Ann\r\nBcc: victim@example.com"}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": ""}, "first_name"),
    ],
)
def test_bad_fields_get_422_naming_the_field_and_write_nothing(
    client, session, change, field
) -> None:
    response = client.post("/api/subscribe", json={**GOOD, **change})
    assert response.status_code == 422
    body = response.json()
    assert field in body["fields"], body
    assert field in body["message"]
    assert _count(session, Lead) == 0
    assert _count(session, Message) == 0


def test_missing_consent_field_is_named(client, session) -> None:
    payload = {k: v for k, v in GOOD.items() if k != "consent"}
    response = client.post("/api/subscribe", json=payload)
    assert response.status_code == 422
    assert "consent" in response.json()["fields"]


def test_body_over_16_kib_gets_413(client, session) -> None:
    payload = json.dumps({**GOOD, "padding": "x" * 17000})
    response = client.post(
        "/api/subscribe", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]
    assert _count(session, Lead) == 0


def test_wrong_content_type_and_broken_bodies(client, session) -> None:
    form = client.post("/api/subscribe", data={"email": "a@example.com"})
    assert form.status_code == 415
    bad_utf8 = client.post(
        "/api/subscribe", content=b'{"email": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert bad_utf8.status_code == 400
    assert "UTF-8" in bad_utf8.json()["message"]
    not_object = client.post("/api/subscribe", json=[GOOD])
    assert not_object.status_code == 400
    assert _count(session, Lead) == 0


def test_openapi_schema_describes_the_signup(client) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/subscribe"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["required"]) >= {"email", "first_name", "numbness_type", "consent"}


def test_landing_page_form_signup_and_errors(client, session) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<label for="email">' in page.text
    assert 'type="checkbox" id="consent"' in page.text
    assert "checked" not in page.text.split('id="consent"')[1].split(">")[0]
    bad = client.post(
        "/subscribe",
        data={"first_name": "<script>alert(1)</script>", "email": "nope", "numbness_type": "acute"},
    )
    assert bad.status_code == 422
    assert "<script>alert(1)</script>" not in bad.text
    assert "&lt;script&gt;" in bad.text
    assert 'role="alert"' in bad.text
    assert _count(session, Lead) == 0
    good = client.post(
        "/subscribe",
        data={
            "first_name": "Ann",
            "email": "ann@example.com",
            "numbness_type": "acute",
            "timezone": "",
            "consent": "true",
        },
    )
    assert good.status_code == 200
    assert "Check your inbox" in good.text
    lead = session.scalars(select(Lead)).one()
    assert lead.timezone is None  # falls back to the clinic's zone when sent
