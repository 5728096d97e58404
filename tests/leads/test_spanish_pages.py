"""A patient who reads Spanish: every page in Spanish from the landing page; English unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.leads.models import ConsentRecord, Lead
from nurture.messages.links import (
    attend_url,
    confirm_url,
    preferences_url,
    unsubscribe_url,
    visit_url,
)
from tests.appointments.test_appointments import NOW, _booking, api, token  # noqa: F401
from tests.factories import make_lead

FORM = {
    "first_name": "Ana",
    "email": "ana@example.com",
    "numbness_type": "chronic",
    "timezone": "America/Chicago",
    "consent": "true",
}
SPANISH = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _lead(session, email: str = "ana@example.com") -> Lead:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(Lead).where(Lead.email == email)).one()


def test_a_spanish_browser_signs_up_and_lives_in_spanish(client, session) -> None:
    landing = client.get("/", headers=SPANISH)
    assert '<html lang="es">' in landing.text
    assert "Reciba las guías gratuitas" in landing.text
    assert "Debilidad que empeora rápidamente." in landing.text  # the warning signs, in Spanish
    assert "Weakness that" not in landing.text
    assert '<input type="hidden" name="language" value="es">' in landing.text
    assert "Accept-Language" in landing.headers["vary"]
    sent = client.post("/subscribe", data={**FORM, "language": "es"}, headers=SPANISH)
    assert "Revise su bandeja de entrada" in sent.text
    lead = _lead(session)
    assert lead.language == "es"
    consent = session.scalars(select(ConsentRecord)).one()
    assert consent.text.startswith("Sí, quiero recibir")
    # From here the links name the lead: its language wins over an English browser.
    confirm = _path(confirm_url(lead))
    page = client.get(confirm, headers=ENGLISH)
    assert "Un último paso, Ana" in page.text
    assert 'class="languages"' not in page.text  # no switch on a page of the lead's
    assert "Todo confirmado, Ana" in client.post(confirm, headers=ENGLISH).text
    preferences = _path(preferences_url(_lead(session)))
    assert "Sus preferencias de correo" in client.get(preferences, headers=ENGLISH).text
    unsubscribe = _path(unsubscribe_url(lead))
    assert "Darse de baja" in client.get(unsubscribe, headers=ENGLISH).text
    assert "Se ha dado de baja" in client.post(unsubscribe, headers=ENGLISH).text


def test_the_switch_and_the_form_record_the_language_shown(client, session) -> None:
    page = client.get("/?lang=es", headers=ENGLISH)
    assert '<html lang="es">' in page.text
    assert '<a href="/?lang=en" lang="en" hreflang="en">English</a>' in page.text
    assert 'href="/privacy?lang=es"' in page.text
    # A form without the hidden field (an old page) is in the page's language.
    client.post("/subscribe?lang=es", data=FORM, headers=ENGLISH)
    assert _lead(session).language == "es"
    errors = client.post("/subscribe", data={**FORM, "consent": "", "language": "es"})
    assert errors.status_code == 422
    assert "Marque la casilla para aceptar recibir nuestros correos" in errors.text


def test_english_stays_as_it_was(client, session) -> None:
    page = client.get("/")
    assert '<html lang="en">' in page.text
    assert "Get the free guides" in page.text
    assert 'href="/privacy"' in page.text
    sent = client.post("/subscribe", data=FORM)
    assert "Check your inbox" in sent.text
    assert _lead(session).language == "en"
    assert "<h1>Privacy notice</h1>" in client.get("/privacy").text
    assert "Aviso de privacidad" in client.get("/privacy", headers=SPANISH).text
    missing = client.get("/no-such-page", headers={**SPANISH, "Accept": "text/html"})
    assert missing.status_code == 404
    assert "No encontramos esa página" in missing.text


def test_preferences_change_the_language(client, session) -> None:
    lead = make_lead(session, email_address="bo@example.com", language="es")
    session.commit()
    url = _path(preferences_url(lead))
    page = client.get(url)
    assert 'value="es" checked' in page.text
    answer = client.post(url, data={"action": "language", "language": "en"})
    assert "Saved. Our pages and emails will be in this language." in answer.text
    assert '<html lang="en">' in answer.text
    assert _lead(session, "bo@example.com").language == "en"
    refused = client.post(url, data={"action": "language", "language": "klingon"})
    assert refused.status_code == 422
    assert _lead(session, "bo@example.com").language == "en"


def test_visit_and_attendance_pages_in_spanish_with_spanish_dates(api, client, session) -> None:  # noqa: F811
    settings_free = _booking(email="ana@example.com", language="es", timezone="America/Chicago")
    settings_free["starts_at"] = datetime(2026, 3, 31, 15, 0, tzinfo=UTC).isoformat()
    assert api("POST", "/api/appointments", json=settings_free).status_code in (200, 201)
    visit = session.scalars(select(Appointment)).one()
    with clock.frozen_at(NOW):
        page = client.get(_path(visit_url(visit.id)), headers=ENGLISH).text
        ask = client.get(
            _path(attend_url(visit.id, revision=visit.revision, answer="confirm")),
            headers=ENGLISH,
        ).text
    # Babel's es_US formats (the clinic's region), in the visit's zone.
    when = "martes, 31 de marzo de 2026, 10:00 a.m. CDT"
    assert "Su cita" in page
    assert when in page
    assert "¿Vendrá a su cita?" in ask
    assert when in ask
    assert "Sí, iré" in ask
