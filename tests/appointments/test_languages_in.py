"""A patient's language as the API, Cal.com and the visits file give it (new patients only)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from nurture.leads.models import Lead
from nurture.messages.links import confirm_url
from tests.appointments.test_appointments import _booking, api, token  # noqa: F401
from tests.appointments.test_calcom import T0, VISIT, booking, calcom, post  # noqa: F401
from tests.appointments.test_visit_import import FUTURE, _run


def _language(session, email: str) -> str:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(Lead.language).where(Lead.email == email)).one()


def test_subscribe_api_takes_a_language(client, session) -> None:
    body = {"email": "ana@example.com", "first_name": "Ana", "numbness_type": "acute"}
    body["consent"] = True  # type: ignore[assignment]
    assert client.post("/api/subscribe", json={**body, "language": "es-MX"}).status_code == 202
    assert _language(session, "ana@example.com") == "es"
    # The confirmation link's page speaks it, whatever the browser says.
    lead = session.scalars(select(Lead).where(Lead.email == "ana@example.com")).one()
    confirm = "/" + confirm_url(lead).split("/", 3)[3]
    assert "Un último paso, Ana" in client.get(confirm, headers={"Accept-Language": "en"}).text
    bad = client.post("/api/subscribe", json={**body, "language": "klingon"})
    assert bad.status_code == 422
    assert "language" in bad.text
    other = {**body, "email": "jo@example.com", "language": "fr"}
    assert client.post("/api/subscribe", json=other).status_code == 202
    assert _language(session, "jo@example.com") == "en"


def test_appointments_api_takes_a_language_for_a_new_patient(api, session) -> None:  # noqa: F811
    assert api("POST", "/api/appointments", json=_booking(language="es")).status_code in (200, 201)
    assert _language(session, "pat@example.com") == "es"
    answer = api("POST", "/api/appointments", json=_booking(external_id="e2", language="x1"))
    assert answer.status_code == 422
    assert "language" in answer.text
    # A known patient keeps theirs.
    again = _booking(external_id="e3", language="en", starts_at=VISIT.replace(day=28).isoformat())
    assert api("POST", "/api/appointments", json=again).status_code in (200, 201)
    assert _language(session, "pat@example.com") == "es"


def test_calcom_attendee_locale_is_the_new_patient_language(client, session) -> None:
    payload = booking("lang-1", VISIT)
    payload["attendees"][0]["language"] = {"locale": "es"}
    assert post(client, "BOOKING_CREATED", payload, T0).status_code == 200
    assert _language(session, "cal@example.com") == "es"


def test_visits_file_has_an_optional_language_column(tmp_path: Path, session) -> None:
    path = tmp_path / "visits.csv"
    path.write_text(
        "external_id,email,starts_at,timezone,status,language\n"
        f"v1,ana@example.com,{FUTURE},Europe/Berlin,booked,es-US\n"
        f"v2,bo@example.com,{FUTURE},Europe/Berlin,booked,\n",
        encoding="utf-8",
    )
    assert _run(path).exit_code == 0
    assert _language(session, "ana@example.com") == "es"
    assert _language(session, "bo@example.com") == "en"
    path.write_text(
        f"external_id,email,starts_at,timezone,status,language\nv3,c@example.com,{FUTURE},"
        "Europe/Berlin,booked,zz-top\n",
        encoding="utf-8",
    )
    result = _run(path)
    assert result.exit_code != 0
    assert "line 2: language" in result.output


def test_the_calendar_summary_is_in_the_patient_language(api, session) -> None:  # noqa: F811
    from nurture.appointments import ics
    from nurture.appointments.models import Appointment

    assert api("POST", "/api/appointments", json=_booking(language="es")).status_code in (200, 201)
    visit = session.scalars(select(Appointment)).one()
    spanish = ics.build(visit, attendee="pat@example.com", cancel=False, now=VISIT, language="es")
    assert b"SUMMARY;LANGUAGE=es:Cita en Example Spine & Nerve Clinic" in spanish
    english = ics.build(visit, attendee="pat@example.com", cancel=False, now=VISIT)
    assert b"SUMMARY;LANGUAGE=en:Appointment at Example Spine & Nerve Clinic" in english
