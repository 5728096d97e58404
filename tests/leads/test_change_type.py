"""Changing numbness type never re-sends a step the lead already read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.leads import preference_changes
from tests.factories import make_lead

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin


def _run(at: datetime) -> list[str]:
    """Tick at `at`, sending through the outbox; return the subjects sent."""
    backend = get_backend()
    sent: list[str] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.subject or ""
                for o in service.deliver_batch(ids, backend=backend)
                if o.status == "sent"
            )
        )
    return sent


def _run_days(start: datetime, days: int) -> list[str]:
    """Tick every six hours for `days` days from `start`; return every subject sent, in order."""
    sent: list[str] = []
    for quarter in range(days * 4):
        sent += _run(start + timedelta(hours=6 * quarter))
    return sent


def test_a_shared_step_already_read_is_skipped_wherever_it_sits(session, sequences_loaded) -> None:
    lead = make_lead(session, numbness_type="acute")
    enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    read = _run_days(T0, 7)
    assert read == [
        "Welcome, Robin: your first short read",
        "A lesson from the football field",
        "Still on your mind? Book a visit with us",
    ]

    changed_at = T0 + timedelta(days=7, hours=1)
    with clock.frozen_at(changed_at):
        preference_changes.change_type(session, lead=lead, numbness_type="chronic", now=changed_at)
    session.commit()

    later = _run_days(changed_at, 40)
    # welcome and book-first are shared keys the lead has read: neither comes again, though
    # book-first sits after a step the lead has not read yet.
    assert later == [
        "Your email preferences are updated",
        "Something worth asking your doctor about",
        "A quick anatomy lesson",
        "Started a new medicine lately?",
        "What happens at an assessment",
        "Our door is open whenever you're ready",
    ]
    session.expire_all()
    chronic = session.scalars(select(Enrollment).order_by(Enrollment.id)).all()[-1]
    assert chronic.status == "completed"
