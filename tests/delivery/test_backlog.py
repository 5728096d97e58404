"""After an outage (worker or beat down for days) nothing stale goes out.

Each test books or enrolls, then moves the clock past several due times before the next tick,
as if nothing had run in between, and reads what the real outbox backend was handed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import service as appointments
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock
from nurture.delivery import outbox, service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.outbox.models import Message, MessageStatus
from tests.factories import make_lead

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # a Monday
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday 10:00, reminders 48 h and 2 h before


def _book(session: Session, at: datetime, starts_at: datetime = VISIT) -> int:
    data = AppointmentIn(
        email="pat@example.com",
        first_name="Pat",
        starts_at=starts_at,
        timezone="Europe/Berlin",
        external_id="ext-1",
    )
    with clock.frozen_at(at):
        appointment = appointments.book(session, data=data, now=at).appointment
    session.commit()
    return appointment.id


def _tick(at: datetime) -> list[int]:
    """Run one tick at `at` and return the ids of the rows it sent."""
    sent: list[int] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.message_id
                for o in service.deliver_batch(ids, backend=get_backend())
                if o.status == "sent"
            )
        )
    return sent


def _deliver(ids: list[int], at: datetime) -> list[int]:
    """Deliver already claimed rows at `at` (a worker reaching a queued batch late)."""
    with clock.frozen_at(at):
        outcomes = service.deliver_batch(ids, backend=get_backend())
    return [o.message_id for o in outcomes if o.status == "sent"]


def _names(session: Session, ids: list[int]) -> list[str]:
    session.expire_all()
    rows = session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
    return [m.reminder or m.key for m in rows]


def _rows(session: Session, appointment_id: int) -> dict[str, tuple[str, str | None]]:
    session.expire_all()
    rows = session.scalars(select(Message).where(Message.appointment_id == appointment_id))
    return {m.reminder or "": (m.status, m.last_error) for m in rows}


def _claim(session: Session, at: datetime) -> list[int]:
    ids = outbox.claim_due(session, now=at, limit=100, lease=timedelta(minutes=5))
    session.commit()
    return ids


def test_nothing_goes_for_a_visit_that_has_started(session) -> None:
    appointment_id = _book(session, NOW)
    # Beat and workers are down from the booking until an hour into the visit.
    assert _tick(VISIT + timedelta(hours=1)) == []
    started = (MessageStatus.SKIPPED, outbox.VISIT_STARTED)
    assert _rows(session, appointment_id) == {
        "confirmation@r0": started,
        "48h@r0": started,
        "nudge@r0": started,
        "2h@r0": started,
    }


def test_a_claimed_reminder_that_waited_past_the_visit_is_skipped_by_the_worker(session) -> None:
    appointment_id = _book(session, NOW)
    assert _names(session, _tick(NOW)) == ["confirmation@r0"]
    # Claimed on time, then stuck in the queue until the visit has begun.
    claimed = _claim(session, VISIT - timedelta(hours=47))
    assert _names(session, claimed) == ["48h@r0"]
    assert _deliver(claimed, VISIT + timedelta(minutes=5)) == []
    assert _rows(session, appointment_id)["48h@r0"] == (
        MessageStatus.SKIPPED,
        outbox.VISIT_STARTED,
    )


def test_of_two_overdue_reminders_only_the_latest_goes(session) -> None:
    appointment_id = _book(session, NOW)
    assert _names(session, _tick(NOW)) == ["confirmation@r0"]
    # Down from Monday until an hour before Friday's visit: both reminders are overdue.
    assert _names(session, _tick(VISIT - timedelta(hours=1))) == ["2h@r0"]
    rows = _rows(session, appointment_id)
    assert rows["48h@r0"] == (MessageStatus.SKIPPED, outbox.SUPERSEDED)
    assert rows["2h@r0"] == (MessageStatus.SENT, None)
    assert _tick(VISIT - timedelta(minutes=30)) == []


def test_the_worker_sends_one_of_two_overdue_reminders_claimed_together(session) -> None:
    appointment_id = _book(session, NOW)
    _tick(NOW)
    claimed = _claim(session, VISIT - timedelta(hours=1))
    assert _names(session, claimed) == ["48h@r0", "nudge@r0", "2h@r0"]
    assert _names(session, _deliver(claimed, VISIT - timedelta(minutes=59))) == ["2h@r0"]
    rows = _rows(session, appointment_id)
    assert rows["48h@r0"] == (MessageStatus.SKIPPED, outbox.SUPERSEDED)
    assert rows["nudge@r0"] == (MessageStatus.SKIPPED, outbox.SUPERSEDED)


def test_a_booking_late_after_a_backlog_still_gets_its_confirmation(session) -> None:
    appointment_id = _book(session, NOW)
    # Down until the day before: the confirmation is two days late but the visit is ahead.
    sent = _names(session, _tick(VISIT - timedelta(hours=20)))
    # The 24 h confirmation nudge carries the same time, place and links as the 48 h reminder.
    assert sent == ["confirmation@r0", "nudge@r0"]
    assert _rows(session, appointment_id)["48h@r0"] == (MessageStatus.SKIPPED, outbox.SUPERSEDED)
    assert _rows(session, appointment_id)["2h@r0"] == (MessageStatus.PENDING, None)


def test_a_booking_inside_the_48h_offset_never_gets_that_reminder(session) -> None:
    # Booked ten hours ahead, then nothing runs until an hour before the visit.
    appointment_id = _book(session, VISIT - timedelta(hours=10), starts_at=VISIT)
    assert _names(session, _tick(VISIT - timedelta(hours=1))) == ["confirmation@r0", "2h@r0"]
    for hours in range(0, 5):
        assert _tick(VISIT + timedelta(hours=hours)) == []
    assert _rows(session, appointment_id)["48h@r0"][0] == MessageStatus.SKIPPED


def test_a_visit_moved_inside_the_48h_offset_never_gets_that_reminder(session) -> None:
    # Booked for next month; the move into the coming ten hours reaches us late.
    appointment_id = _book(session, NOW, starts_at=VISIT + timedelta(days=30))
    _tick(NOW)
    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None
    moved_at = VISIT - timedelta(hours=10)
    with clock.frozen_at(moved_at):
        appointments.reschedule(
            session, appointment=appointment, patch=AppointmentPatch(starts_at=VISIT), now=moved_at
        )
    session.commit()
    assert _names(session, _tick(VISIT - timedelta(hours=1))) == ["notice@r1", "2h@r1"]
    assert _tick(VISIT + timedelta(hours=1)) == []
    assert _rows(session, appointment_id)["48h@r1"][0] == MessageStatus.SKIPPED


def _drip(session: Session) -> list[Message]:
    session.expire_all()
    return list(
        session.scalars(
            select(Message).where(Message.enrollment_id.is_not(None)).order_by(Message.id)
        )
    )


def test_drip_keeps_its_spacing_after_an_outage(session, sequences_loaded) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin
    lead = make_lead(session)  # chronic, Europe/Berlin: welcome, then +3, +4, +4 days
    with clock.frozen_at(start):
        enrollments.enroll(session, lead=lead, now=start)
    session.commit()
    assert len(_tick(start)) == 1
    # Down for almost three weeks: every later step would be due by now, but only the next
    # one exists, and it alone goes.
    back = datetime(2026, 3, 22, 9, 0, tzinfo=UTC)  # Sunday, 10:00 in Berlin
    [welcome, second] = _drip(session)
    assert second.due_at == start + timedelta(days=3)
    assert _tick(back) == [second.id]
    # The next step is planned four days after the one actually sent, not all at once.
    *_, sent, third = _drip(session)
    assert (sent.id, sent.status, sent.sent_at) == (second.id, MessageStatus.SENT, back)
    assert third.status == MessageStatus.PENDING
    assert third.due_at == back + timedelta(days=4)
    assert _tick(back + timedelta(days=3, hours=23)) == []
    assert _tick(back + timedelta(days=4)) == [third.id]
    assert [m.status for m in _drip(session)].count(MessageStatus.PENDING) == 1


def test_the_tick_settles_stale_rows_instead_of_claiming_them(session) -> None:
    appointment_id = _book(session, NOW)
    claimed: list[int] = []
    with clock.frozen_at(VISIT - timedelta(hours=1)):
        result = service.tick(dispatch=claimed.extend)
    # The 48 h reminder and the 24 h nudge never take a worker's time; the confirmation and
    # the 2 h reminder do.
    assert result.stale == 2
    assert _names(session, claimed) == ["confirmation@r0", "2h@r0"]
    assert _rows(session, appointment_id)["48h@r0"] == (MessageStatus.SKIPPED, outbox.SUPERSEDED)
