"""The probe that lets an idle tick skip its steps: it must see every kind of work they do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nurture.core import clock
from nurture.delivery import probe, service
from nurture.outbox import plan as planning
from nurture.outbox.models import Heartbeat, MessageStatus, Stream
from tests.factories import make_lead

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _confirmation(session, due_at: datetime):  # type: ignore[no-untyped-def]
    lead = make_lead(session)
    msg = planning.plan(
        session,
        key=f"confirm:{lead.id}",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=due_at,
        lead_id=lead.id,
    )
    session.commit()
    return msg


def test_the_probe_sees_due_rows_expired_leases_and_silent_unknowns(session) -> None:
    idle = probe.find_work(session, now=NOW, resend_after_seconds=None)
    assert not (idle.claims)
    assert not (idle.events)
    assert not (idle.unanswered)
    assert not idle.broadcasts_due
    assert idle.journeys_at is None
    msg = _confirmation(session, NOW + timedelta(hours=1))
    assert not probe.find_work(session, now=NOW, resend_after_seconds=None).due
    assert probe.find_work(session, now=NOW + timedelta(hours=1), resend_after_seconds=None).due

    msg.status, msg.lease_expires_at = MessageStatus.SENDING, NOW + timedelta(minutes=5)
    session.commit()
    assert not probe.find_work(session, now=NOW, resend_after_seconds=None).claims
    later = probe.find_work(session, now=NOW + timedelta(minutes=6), resend_after_seconds=None)
    assert later.expired
    assert not later.due

    msg.status, msg.unknown_since = MessageStatus.UNKNOWN, NOW - timedelta(hours=2)
    session.commit()
    assert probe.find_work(session, now=NOW, resend_after_seconds=3600).unanswered
    assert not probe.find_work(session, now=NOW, resend_after_seconds=3 * 3600).unanswered
    assert not probe.find_work(session, now=NOW, resend_after_seconds=None).unanswered


def test_an_idle_tick_beats_and_a_lapsed_lease_is_claimed_again(session) -> None:
    with clock.frozen_at(NOW):
        idle = service.tick(dispatch=lambda ids: None)
    assert idle.claimed == []
    assert idle.released == 0
    session.expire_all()
    beat = session.get(Heartbeat, "tick")
    assert beat is not None
    assert beat.beat_at == NOW

    msg = _confirmation(session, NOW - timedelta(hours=1))
    msg.status, msg.lease_expires_at = MessageStatus.SENDING, NOW - timedelta(minutes=1)
    session.commit()
    with clock.frozen_at(NOW):
        result = service.tick(dispatch=lambda ids: None)
    assert result.released == 1
    assert result.claimed == [msg.id]
