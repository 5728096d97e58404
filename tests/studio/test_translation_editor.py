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


def test_a_variant_in_spanish_can_send_no_preheader_like_the_english_variant(
    studio: Studio, session, sequences_loaded
) -> None:
    from nurture.sequences.models import StepVariant

    step_id, *_ = open_draft(studio)
    step_url = f"/studio/sequences/{SLUG}/edit/steps/{step_id}"
    assert studio.post(f"{step_url}/languages/es", SPANISH).status_code == 303
    assert studio.post(f"{step_url}/variants").status_code == 303
    session.expire_all()
    arm = session.get(Step, step_id).variants[-1]
    url = f"{step_url}/variants/{arm.id}/languages/es"
    assert 'name="no_preheader"' in studio.get(url).text
    saved = studio.post(url, {"preheader": "Ignored when ticked", "no_preheader": "1"})
    assert saved.status_code == 303, saved.text
    session.expire_all()
    assert session.get(StepVariant, arm.id).translations == {"es": {"preheader": ""}}
    page = studio.get(url).text
    assert 'name="no_preheader" value="1" checked' in page
    assert '<span class="muted" id="preview-preheader"></span>' in page  # sent without one
    # Unticked and empty again: the step's Spanish preheader, as for the English variant.
    assert studio.post(url, {"subject": "Otra idea"}).status_code == 303
    session.expire_all()
    assert session.get(StepVariant, arm.id).translations == {"es": {"subject": "Otra idea"}}


def test_the_language_tab_previews_the_translation_as_typed_without_saving(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, *_ = open_draft(studio)
    url = f"/studio/sequences/{SLUG}/edit/steps/{step_id}/languages/es"
    session.expire_all()
    before = session.get(Step, step_id).translations
    page = studio.get(url).text
    assert f'data-preview="{url}/preview"' in page
    assert "/static/studio-translation.js" in page
    shown = studio.post(f"{url}/preview", SPANISH).json()
    assert shown["problems"] == []
    assert shown["subject"] == SPANISH["subject"]
    assert "Reserve una evaluación" in shown["html"]
    assert "Señales de alarma" in shown["html"]  # in the Spanish layout
    refused = studio.post(f"{url}/preview", SPANISH | {"subject": "Su ciática y usted"}).json()
    assert "names a condition" in " ".join(p["message"] for p in refused["problems"])
    assert studio.post(f"{url}/preview", {}).json() == {"problems": []}
    session.expire_all()
    assert session.get(Step, step_id).translations == before  # a preview saves nothing


def test_the_test_send_is_the_email_in_that_language(
    studio: Studio, session, sequences_loaded
) -> None:
    from nurture.core.config import get_settings
    from nurture.rendering.safety import SAFETY_ES
    from tests.factories import outbox_messages, text_part

    step_id, *_ = open_draft(studio)
    url = f"/studio/sequences/{SLUG}/edit/steps/{step_id}/languages/es"
    assert studio.post(f"{url}/test", SPANISH).status_code == 200
    [proof] = outbox_messages(get_settings().resolved_outbox_dir)
    assert proof["Subject"] == f"[Test] {SPANISH['subject']}"
    body = text_part(proof)
    assert "Una lectura corta." in body
    assert all(flag in body for flag in SAFETY_ES.red_flags)
    assert "Cancelar su suscripción con un solo clic:" in body
    html = proof.get_body(preferencelist=("html",))
    assert html is not None
    assert 'lang="es"' in html.get_content()
