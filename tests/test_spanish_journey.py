"""A patient who reads Spanish, from the landing page to unsubscribing, moved by `nurture tick`.

Signed up three ways (a Spanish browser, the page's language switch on an English browser, the
API), she reads every page and email in Spanish through confirmation, education, booking,
reminders, attendance, preferences and unsubscribe, even when she later opens a link in an
English browser. The same path for an English reader is the control: nothing changed for him.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.leads.models import Lead, LeadStatus
from nurture.outbox.models import Message
from nurture.rendering.safety import SAFETY, SAFETY_ES, SafetyBox
from tests.appointments.test_appointments import api, token  # noqa: F401
from tests.factories import link_in, outbox_messages, text_part

START = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago
VISIT = datetime(2027, 1, 8, 16, 0, tzinfo=UTC)  # Friday 10:00 in Chicago
SPANISH_BROWSER = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}

WORDS: dict[str, dict[str, str]] = {
    "es": {
        "landing": "Reciba las guías gratuitas",
        "inbox": "Revise su bandeja de entrada",
        "confirm_subject": "Confirme su correo electrónico, por favor",
        "confirm_page": "Un último paso, Ana",
        "confirmed_page": "Todo confirmado, Ana",
        "welcome_subject": "Hola, Ana: su primera lectura breve",
        "one_click": "Cancelar su suscripción con un solo clic:",
        "privacy_page": "Aviso de privacidad",
        "preferences_page": "Sus preferencias de correo",
        "booked_subject": "Cita reservada: ",
        "when": "viernes, 8 de enero de 2027, 10:00 a.m. CST",
        "summary": "SUMMARY;LANGUAGE=es:Cita en ",
        "reminder_subject": "Recordatorio de su cita: ",
        "attend_page": "¿Vendrá a su cita?",
        "attended_page": "Gracias, nos vemos entonces",
        "visit_page": "Su cita",
        "unsubscribe_page": "Darse de baja",
        "unsubscribed_page": "Se ha dado de baja",
        "goodbye_subject": "Canceló su suscripción",
    },
    "en": {
        "landing": "Get the free guides",
        "inbox": "Check your inbox",
        "confirm_subject": "Please confirm your email address",
        "confirm_page": "One last step, Ana",
        "confirmed_page": "You&#39;re confirmed, Ana",
        "welcome_subject": "Welcome, Ana: your first short read",
        "one_click": "Unsubscribe with one click:",
        "privacy_page": "<h1>Privacy notice</h1>",
        "preferences_page": "Your email preferences",
        "booked_subject": "Booked: your visit on ",
        "when": "Friday, January 8, 2027 at 10:00 AM CST",
        "summary": "SUMMARY;LANGUAGE=en:Appointment at ",
        "reminder_subject": "Reminder: your visit on ",
        "attend_page": "Will you be there?",
        "attended_page": "Thank you, see you then",
        "visit_page": "Your appointment",
        "unsubscribe_page": "Unsubscribe",
        "unsubscribed_page": "You&#39;re unsubscribed",
        "goodbye_subject": "You&#39;re unsubscribed",
    },
}
BOXES: dict[str, SafetyBox] = {"es": SAFETY_ES, "en": SAFETY}
FORM = {
    "first_name": "Ana",
    "email": "ana@example.com",
    "numbness_type": "acute",
    "timezone": "America/Chicago",
    "consent": "true",
}


def tick(at: datetime) -> list[str]:
    """Run `nurture tick --now AT`; return the subjects it sent."""
    result = CliRunner().invoke(main, ["tick", "--now", at.isoformat()])
    assert result.exit_code == 0, result.output
    return re.findall(r"sent: (.+)", result.output)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _site_link(text: str, path: str) -> str:
    """Return the link in `text` to the site's page `path` (no lead in it), query included."""
    match = re.search(rf"https://nurture\.test{re.escape(path)}(\?lang=[a-z-]+)?(?=\s)", text)
    assert match, f"no link to {path}"
    return match.group(0)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert match, name
    return match.group(1)


def _sign_up(client, how: str) -> str:  # type: ignore[no-untyped-def]
    """Sign Ana up the way `how` says; return the language she signed up in."""
    if how == "api":
        body = {**FORM, "consent": True, "language": "es-MX"}
        assert client.post("/api/subscribe", json=body).status_code == 202
        return "es"
    browser = SPANISH_BROWSER if how == "spanish-browser" else ENGLISH_BROWSER
    page = client.get("/", headers=browser)
    if how == "switch":
        assert WORDS["en"]["landing"] in page.text
        switch = re.search(r'<a href="([^"]+)" lang="es" hreflang="es">Español</a>', page.text)
        assert switch, "no visible switch to Spanish"
        page = client.get(switch.group(1), headers=browser)
    language = "en" if how == "english" else "es"
    assert f'<html lang="{language}">' in page.text
    assert WORDS[language]["landing"] in page.text
    assert all(flag in page.text for flag in BOXES[language].red_flags)  # the box, before the form
    # The form as the page shows it, the language it was shown in included.
    shown = {
        **FORM,
        "language": _hidden(page.text, "language"),
        "consent_version": _hidden(page.text, "consent_version"),
    }
    inbox = client.post("/subscribe", data=shown, headers=browser)
    assert inbox.status_code == 200
    assert f'<html lang="{language}">' in inbox.text
    assert WORDS[language]["inbox"] in inbox.text
    return language


@pytest.mark.parametrize("how", ["spanish-browser", "switch", "api", "english"])
def test_a_patient_lives_in_her_language_from_signup_to_unsubscribe(
    client,
    session,
    sequences_loaded,
    api,  # noqa: F811
    how: str,
) -> None:
    with clock.frozen_at(START - timedelta(seconds=5)):
        language = _sign_up(client, how)
    words, page_words = (
        {k: v.replace("&#39;", "'") for k, v in WORDS[language].items()},
        WORDS[language],
    )
    lang_query = "" if language == "en" else f"?lang={language}"
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    assert lead.language == language
    outbox = get_settings().resolved_outbox_dir

    def last() -> EmailMessage:
        return outbox_messages(outbox)[-1]

    # Confirmation: the email, then its page (opened in an English browser: hers wins).
    assert tick(START) == [words["confirm_subject"]]
    confirm = _path(link_in(text_part(last()), "/confirm/"))
    with clock.frozen_at(START + timedelta(seconds=30)):
        shown = client.get(confirm, headers=ENGLISH_BROWSER).text
        assert page_words["confirm_page"] in shown
        assert 'class="languages"' not in shown  # her page has no switch
        assert page_words["confirmed_page"] in client.post(confirm, headers=ENGLISH_BROWSER).text

    # Education: the first email of her sequence, with the whole safety box in her language.
    assert tick(START + timedelta(minutes=1)) == [words["welcome_subject"]]
    welcome = last()
    body = text_part(welcome)
    box = BOXES[language]
    assert all(flag in body for flag in box.red_flags)
    assert box.disclaimer in body
    assert words["one_click"] in body
    html = welcome.get_body(preferencelist=("html",))
    assert html is not None
    assert f'<html lang="{language}"' in html.get_content()
    privacy = _site_link(body, "/privacy")
    assert privacy.endswith(f"/privacy{lang_query}")
    assert page_words["privacy_page"] in client.get(_path(privacy), headers=ENGLISH_BROWSER).text
    preferences = _path(link_in(body, "/preferences/"))
    page = client.get(preferences, headers=ENGLISH_BROWSER).text
    assert page_words["preferences_page"] in page
    assert f'value="{language}" checked' in page

    # Booking: the booking system names no language, so she keeps hers.
    booking = {
        "email": "ana@example.com",
        "starts_at": VISIT.isoformat(),
        "timezone": "America/Chicago",
        "duration_minutes": 45,
        "location": "Room 2",
        "external_id": f"journey-{how}",
    }
    at = START + timedelta(hours=1)
    assert api("POST", "/api/appointments", at=at, json=booking).status_code == 201
    [booked] = tick(at + timedelta(minutes=1))
    assert booked.startswith(words["booked_subject"])
    assert words["when"] in text_part(last())
    [calendar] = [p for p in last().iter_attachments() if p.get_filename() == "appointment.ics"]
    assert words["summary"] in calendar.get_content()

    # The reminder two days before, and the answer from its link.
    [reminder] = tick(VISIT - timedelta(hours=48))
    assert reminder.startswith(words["reminder_subject"])
    body = text_part(last())
    assert words["when"] in body
    with clock.frozen_at(VISIT - timedelta(hours=47)):
        ask = client.get(_path(link_in(body, "/attend/")), headers=ENGLISH_BROWSER).text
        assert page_words["attend_page"] in ask
        assert words["when"] in ask
        done = client.post("/attend", data={"token": _hidden(ask, "token")})
        assert page_words["attended_page"] in done.text
        visit = client.get(_path(link_in(body, "/visit/")), headers=ENGLISH_BROWSER).text
        assert page_words["visit_page"] in visit
        assert f'<html lang="{language}">' in visit

    # Unsubscribe: the List-Unsubscribe landing, the one-click post, the goodbye note.
    target = _path(welcome["List-Unsubscribe"].split(",")[0].strip("<> "))
    with clock.frozen_at(VISIT - timedelta(hours=46)):
        landing = client.get(target, headers=ENGLISH_BROWSER)
        assert page_words["unsubscribe_page"] in landing.text
        one_click = client.post(
            target,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded", **ENGLISH_BROWSER},
        )
    assert one_click.status_code == 200
    assert page_words["unsubscribed_page"] in one_click.text
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.UNSUBSCRIBED
    assert tick(VISIT - timedelta(hours=45)) == [words["goodbye_subject"]]
    again = _site_link(text_part(last()), "/")
    assert again.endswith(f"/{lang_query}")
    assert f'<html lang="{language}">' in client.get(_path(again), headers=ENGLISH_BROWSER).text

    # The visit's last reminder still comes, in her language; every email was written in it.
    [last_reminder] = tick(VISIT - timedelta(hours=2))
    assert last_reminder.startswith(words["reminder_subject"])
    written = set(session.scalars(select(Message.language).where(Message.sent_at.is_not(None))))
    assert written == {language}
