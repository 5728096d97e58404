"""What stops what: a bounce or complaint stops every email; an unsubscribe stops marketing but
not the reminders of a visit the patient booked, unless they ask to stop everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.core.tokens import make_token
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.leads.suppressions import suppress
from nurture.outbox.models import Message, MessageStatus, Stream, Suppression
from tests.factories import make_lead

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVERYTHING = "everything"  # the reason a patient's "stop every email" is recorded under


@pytest.mark.parametrize(
    ("reason", "marketing", "transactional"),
    [
        (None, False, False),
        ("bounce", True, True),
        ("invalid", True, True),
        ("complaint", True, True),
        ("staff", True, True),
        ("unsubscribe", True, False),
        (EVERYTHING, True, True),
    ],
)
def test_the_rule(reason: str | None, marketing: bool, transactional: bool) -> None:
    from nurture.outbox.stops import stops

    assert stops(reason, stream=Stream.MARKETING, address="a@example.com") is marketing
    assert stops(reason, stream=Stream.TRANSACTIONAL, address="a@example.com") is transactional
    assert stops(None, stream=Stream.TRANSACTIONAL, address="4915112345678@sms.cal.com")


def _book(session) -> int:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="pat@example.com")
    session.commit()
    data = AppointmentIn(
        email="pat@example.com",
        first_name="Pat",
        starts_at=NOW + timedelta(days=3),
        timezone="Europe/Berlin",
        duration_minutes=30,
        location="Room 2",
        external_id="api:1",
    )
    visit = appointments.book(session, data=data, now=NOW).appointment
    session.commit()
    return visit.id


def _confirmation(session, visit_id: int) -> Message:  # type: ignore[no-untyped-def]
    with clock.frozen_at(NOW + timedelta(minutes=1)):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    session.expire_all()
    return session.scalars(
        select(Message).where(
            Message.appointment_id == visit_id, Message.template == "appointment_confirmation"
        )
    ).one()


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("unsubscribe", MessageStatus.SENT),
        ("bounce", MessageStatus.SUPPRESSED),
        ("complaint", MessageStatus.SUPPRESSED),
        (EVERYTHING, MessageStatus.SUPPRESSED),
    ],
)
def test_a_booked_visits_emails_after_each_kind_of_suppression(session, reason, status) -> None:  # type: ignore[no-untyped-def]
    visit_id = _book(session)
    suppress(session, email="pat@example.com", reason=reason, source="test", now=NOW)
    session.commit()
    confirmation = _confirmation(session, visit_id)
    assert confirmation.status == status, confirmation.last_error


def test_the_unsubscribe_page_says_reminders_still_come_and_offers_to_stop_everything(
    client, session
) -> None:  # type: ignore[no-untyped-def]
    visit_id = _book(session)
    lead_id = session.scalar(select(Message.lead_id).where(Message.appointment_id == visit_id))
    token = make_token("unsubscribe", {"lead": lead_id})
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "you will still get its confirmation and reminders" in page.text
    assert f'action="/unsubscribe/{token}/everything"' in page.text
    assert session.scalar(select(Suppression)) is None  # a GET changes nothing
    stopped = client.post(f"/unsubscribe/{token}/everything")
    assert stopped.status_code == 200
    assert "Not even reminders" in stopped.text
    session.expire_all()
    [row] = session.scalars(select(Suppression))
    assert (row.email, row.reason) == ("pat@example.com", EVERYTHING)
    assert _confirmation(session, visit_id).status == MessageStatus.SUPPRESSED
