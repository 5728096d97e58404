"""Each patient gets their language: the translation when the message has one, else the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.leads.service import notify
from nurture.outbox.models import Message
from nurture.rendering.safety import SAFETY, SAFETY_ES
from nurture.sequences import service as sequences
from nurture.sequences.files import SequenceSpec
from tests.factories import make_lead, outbox_messages, text_part

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin
SPEC = {
    "slug": "spoken",
    "name": "spoken",
    "audience": "chronic",
    "window": {"start_hour": 0, "end_hour": 24},
    "steps": [
        {
            "key": "intro",
            "subject": "Hello {{ first_name }}",
            "markdown": "# Hi\n\nAn English read.",
            "translations": {
                "es": {"subject": "Hola {{ first_name }}", "markdown": "# Hola\n\nUna lectura."}
            },
        },
        {"key": "english-only", "delay_days": 1, "subject": "Only English", "html": "<p>Hi</p>"},
    ],
}


def _send_due(at: datetime) -> None:
    with clock.frozen_at(at):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))


def _sent() -> dict[tuple[str, str], EmailMessage]:
    return {(m["To"], m["Subject"]): m for m in outbox_messages(get_settings().resolved_outbox_dir)}


def _people(session: Session) -> tuple[int, int]:
    sequences.publish_spec(session, spec=SequenceSpec.model_validate(SPEC))
    spanish = make_lead(session, email_address="ana@example.com", first_name="Ana")
    spanish.language = "es"
    english = make_lead(session, email_address="sam@example.com", first_name="Sam")
    for lead in (spanish, english):
        enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    return spanish.id, english.id


def test_a_spanish_patient_reads_spanish_and_english_stays_english(session) -> None:
    spanish_id, english_id = _people(session)
    _send_due(T0)
    sent = _sent()
    ana = sent[("ana@example.com", "Hola Ana")]
    body = text_part(ana)
    assert "Una lectura." in body
    assert all(flag in body for flag in SAFETY_ES.red_flags)  # the full box, in Spanish
    assert "Cancelar su suscripción con un solo clic:" in body
    assert 'lang="es"' in ana.get_body(preferencelist=("html",)).get_content()
    sam = sent[("sam@example.com", "Hello Sam")]
    assert all(flag in text_part(sam) for flag in SAFETY.red_flags)
    assert "Unsubscribe with one click:" in text_part(sam)
    languages = dict(
        session.execute(
            select(Message.lead_id, Message.language).where(Message.sent_at.is_not(None))
        ).all()
    )
    assert languages == {spanish_id: "es", english_id: "en"}


def test_a_step_without_her_language_goes_in_the_default_layout_and_all(session) -> None:
    _people(session)
    _send_due(T0)
    _send_due(T0 + timedelta(days=1, minutes=1))
    ana = _sent()[("ana@example.com", "Only English")]
    assert "Unsubscribe with one click:" in text_part(ana)
    assert "Señales de alarma" not in text_part(ana)
    assert (
        session.scalar(
            select(Message.language)
            .where(Message.step_id.is_not(None))
            .order_by(Message.id.desc())
            .limit(1)
        )
        == "en"
    )


def test_visit_emails_and_confirmations_come_in_spanish_with_spanish_dates(session) -> None:
    spanish = make_lead(session, email_address="ana@example.com", first_name="Ana")
    spanish.language = "es"
    session.flush()
    data = AppointmentIn(
        email="ana@example.com",
        starts_at=datetime(2026, 6, 4, 8, 0, tzinfo=UTC),
        timezone="America/Chicago",
    )
    appointments.book(session, data=data, now=T0)
    notify(session, lead=spanish, template="goodbye", now=T0)
    session.commit()
    _send_due(T0)
    subjects = {subject for (_, subject) in _sent()}
    assert "Canceló su suscripción" in subjects
    booked = next(m for (_, s), m in _sent().items() if s.startswith("Cita reservada"))
    assert "jueves, 4 de junio de 2026, 3:00 a.m. CDT" in text_part(booked)
    calendar = next(p for p in booked.iter_attachments() if p.get_filename() == "appointment.ics")
    assert "SUMMARY;LANGUAGE=es:Cita en " in calendar.get_content()
