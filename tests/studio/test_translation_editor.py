"""A step's language tab: written beside the original, checked in Spanish, counted at publish."""

from __future__ import annotations

from nurture.core import clock
from nurture.enrollments import service as enrollments
from nurture.sequences.models import Step
from tests.factories import make_lead
from tests.studio.conftest import Studio
from tests.studio.test_editor import SLUG, open_draft

SPANISH = {
    "subject": "Una idea para esta semana",
    "preheader": "Unos minutos de lectura",
    "markdown": (
        "# Hola\n\nUna lectura corta.\n\n[[button: Reserve una evaluación | {{ booking_url }}]]\n"
    ),
    "text": "",
}


def test_a_step_gets_a_spanish_version_checked_like_the_original(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, *_ = open_draft(studio)
    url = f"/studio/sequences/{SLUG}/edit/steps/{step_id}"
    assert f'href="{url}/languages/es">Spanish</a>' in studio.get(url).text
    session.expire_all()
    shipped = (session.get(Step, step_id).translations or {}).get("es")
    page = studio.get(f"{url}/languages/es")
    assert page.status_code == 200
    assert "Original (English)" in page.text
    refused = studio.post(f"{url}/languages/es", SPANISH | {"subject": "Su ciática y usted"})
    assert refused.status_code == 422
    assert "Spanish: Subject: names a condition" in refused.text
    session.expire_all()
    assert (session.get(Step, step_id).translations or {}).get("es") == shipped  # nothing saved
    saved = studio.post(f"{url}/languages/es", SPANISH)
    assert saved.status_code == 303, saved.text
    session.expire_all()
    assert session.get(Step, step_id).translations["es"]["subject"] == SPANISH["subject"]
    shown = studio.get(f"{url}/languages/es").text
    assert "Reserve una evaluación" in shown  # the Spanish email, side by side
    assert "Señales de alarma" in shown  # ... in its own layout
    tested = studio.post(f"{url}/languages/es/test", SPANISH)
    assert tested.status_code == 200
    assert "Test in Spanish sent" in tested.text


def test_publish_says_how_many_people_miss_a_translation(
    studio: Studio, session, sequences_loaded
) -> None:
    reader = make_lead(session, email_address="ana@example.com", numbness_type="chronic")
    reader.language = "es"
    enrollments.enroll(session, lead=reader, now=clock.now())
    session.commit()
    step_id, *_ = open_draft(studio)
    session.get(Step, step_id).translations = None
    session.commit()
    page = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert "Missing translations" in page
    assert "<strong>1</strong> person in this sequence reads Spanish" in page
