"""A broadcast becomes one outbox row per lead who may get it, at their window, exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from nurture.broadcasts import planning
from nurture.broadcasts import service as broadcasts
from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core.db import session_scope
from nurture.leads.models import LeadStatus
from nurture.leads.segments import Segment
from nurture.leads.suppressions import suppress
from nurture.outbox.models import Message, MessageStatus, Stream
from tests.factories import make_lead

# Monday 2 March 2026, 20:00 UTC: 21:00 in Berlin (window closed), 15:00 in New York (open).
NOW = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


def make_broadcast(  # type: ignore[no-untyped-def]
    session, segment: Segment | None = None, *, at: datetime | None = NOW, schedule: bool = True
) -> Broadcast:
    """Save a broadcast to `segment` and (by default) schedule it for `at`."""
    fields = broadcasts.DraftFields(
        name="Evening hours",
        subject="New evening hours",
        preheader="From next week",
        body_markdown="Hello {{ first_name }},\n\nWe are now open until 8 pm.",
        segment=segment or Segment(),
        window_start_hour=9,
        window_end_hour=19,
    )
    broadcast = broadcasts.create(session, fields=fields, created_by_id=None, now=NOW)
    if schedule:
        broadcast.status = BroadcastStatus.SCHEDULED
        broadcast.scheduled_at = at
    session.commit()
    return broadcast


def rows(session, broadcast: Broadcast) -> list[Message]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(
        session.scalars(
            select(Message).where(Message.broadcast_id == broadcast.id).order_by(Message.lead_id)
        )
    )


def test_plans_each_lead_who_may_get_marketing_mail_at_their_window(session) -> None:  # type: ignore[no-untyped-def]
    berlin = make_lead(session, email_address="berlin@example.com", timezone="Europe/Berlin")
    york = make_lead(session, email_address="york@example.com", timezone="America/New_York")
    nozone = make_lead(session, email_address="nozone@example.com", timezone=None)
    for status in (LeadStatus.PENDING, LeadStatus.UNSUBSCRIBED, LeadStatus.NO_CONSENT):
        make_lead(session, email_address=f"{status}@example.com", status=status)
    make_lead(session, email_address="acute@example.com", numbness_type="acute")
    make_lead(session, email_address="bounced@example.com")
    suppress(session, email="bounced@example.com", reason="bounce", source="test", now=NOW)
    session.commit()
    broadcast = make_broadcast(session, Segment(numbness_types=frozenset({"chronic"})))

    result = planning.plan_due(now=NOW)

    planned = rows(session, broadcast)
    assert [m.lead_id for m in planned] == [berlin.id, york.id, nozone.id]
    assert result.planned == 3
    assert result.excluded == 4  # three without marketing consent, one suppressed
    assert {m.stream for m in planned} == {Stream.MARKETING}
    assert {m.status for m in planned} == {MessageStatus.PENDING}
    due = {m.lead_id: m.due_at for m in planned}
    assert due[berlin.id] == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 next day in Berlin
    assert due[york.id] == NOW  # 15:00 in New York: inside the window now
    assert due[nozone.id] == NOW  # no zone of their own: the clinic's (New York)
    session.refresh(broadcast)
    assert broadcast.status == BroadcastStatus.SENDING
    assert (broadcast.planned_count, broadcast.excluded_count) == (3, 4)
    assert broadcast.planned_at == NOW


def test_nothing_is_planned_before_the_scheduled_time(session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session)
    session.commit()
    broadcast = make_broadcast(session, at=NOW + timedelta(hours=1))
    assert planning.plan_due(now=NOW).planned == 0
    assert rows(session, broadcast) == []
    assert planning.plan_due(now=NOW + timedelta(hours=1)).planned == 1


def test_planning_again_never_makes_a_second_copy(session) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        make_lead(session, email_address=f"l{i}@example.com")
    session.commit()
    broadcast = make_broadcast(session)
    # Small batches over several ticks: the broadcast is sending until the last batch.
    assert planning.plan_due(now=NOW, batch_size=2, max_batches=1).planned == 2
    session.refresh(broadcast)
    assert broadcast.status == BroadcastStatus.SENDING
    assert broadcast.planned_at is None
    planning.plan_due(now=NOW, batch_size=2)
    assert len(rows(session, broadcast)) == 5
    # Even with its position lost, a second pass over every lead adds nothing.
    broadcast.planned_through, broadcast.planned_at = 0, None
    session.commit()
    assert planning.plan_due(now=NOW, batch_size=2).planned == 0
    assert len(rows(session, broadcast)) == 5


def test_two_planners_reading_the_same_position_plan_one_batch(session) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        make_lead(session, email_address=f"l{i}@example.com")
    session.commit()
    broadcast = make_broadcast(session)
    with session_scope() as first, session_scope() as second:
        a = first.get(Broadcast, broadcast.id)
        b = second.get(Broadcast, broadcast.id)
        assert a is not None
        assert b is not None
        assert a.planned_through == b.planned_through == 0
        assert planning.plan_batch(first, broadcast=a, now=NOW, size=10) is not None
        first.commit()
        # The second read the old position: its compare-and-set finds it moved, and stops.
        assert planning.plan_batch(second, broadcast=b, now=NOW, size=10) is None
    session.refresh(broadcast)
    assert (broadcast.planned_count, len(rows(session, broadcast))) == (3, 3)


def test_concurrent_ticks_plan_each_lead_once(session) -> None:  # type: ignore[no-untyped-def]
    for i in range(40):
        make_lead(session, email_address=f"l{i}@example.com")
    session.commit()
    broadcast = make_broadcast(session)
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            planning.plan_due(now=NOW, batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    planning.plan_due(now=NOW, batch_size=7)  # whatever a lost race left over
    planned = rows(session, broadcast)
    assert len(planned) == len({m.lead_id for m in planned}) == 40
    session.refresh(broadcast)
    assert broadcast.planned_count == 40
    assert broadcast.excluded_count == 0


def test_a_cancelled_or_draft_broadcast_is_never_planned(session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session)
    session.commit()
    draft = make_broadcast(session, schedule=False)
    cancelled = make_broadcast(session)
    broadcasts.cancel(session, broadcast=cancelled, now=NOW)
    session.commit()
    assert planning.plan_due(now=NOW + timedelta(days=1)).planned == 0
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert draft.status == BroadcastStatus.DRAFT


def test_schedule_refuses_the_past_an_empty_audience_and_a_non_draft(session) -> None:  # type: ignore[no-untyped-def]
    broadcast = make_broadcast(session, schedule=False)
    with pytest.raises(ValueError, match="no one in this segment"):
        broadcasts.schedule(session, broadcast=broadcast, at=None, now=NOW)
    make_lead(session)
    with pytest.raises(ValueError, match="in the future"):
        broadcasts.schedule(session, broadcast=broadcast, at=NOW - timedelta(minutes=1), now=NOW)
    with pytest.raises(ValueError, match="within the next year"):
        broadcasts.schedule(session, broadcast=broadcast, at=NOW + timedelta(days=400), now=NOW)
    broadcasts.schedule(session, broadcast=broadcast, at=None, now=NOW)
    assert (broadcast.status, broadcast.scheduled_at) == (BroadcastStatus.SCHEDULED, NOW)
    with pytest.raises(broadcasts.NotEditable):
        broadcasts.schedule(session, broadcast=broadcast, at=None, now=NOW)
