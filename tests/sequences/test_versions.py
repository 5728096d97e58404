"""Versions: publishing never re-sends or skips; moving enrollments is explicit; exits hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus
from nurture.sequences import service as sequences
from nurture.sequences.files import SequenceSpec
from nurture.sequences.models import Sequence
from tests.factories import make_lead, outbox_messages

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin


def _spec(**overrides: object) -> SequenceSpec:
    steps = [
        {"key": "one", "subject": "One {{ first_name }}", "html": "<p>1</p>"},
        {"key": "two", "delay_days": 1, "subject": "Two", "html": "<p>2</p>"},
        {"key": "three", "delay_days": 1, "subject": "Three", "html": "<p>3</p>"},
    ]
    data: dict[str, object] = {
        "slug": "test-seq",
        "name": "Test",
        "audience": "chronic",
        "steps": steps,
    }
    data.update(overrides)
    return SequenceSpec.model_validate(data)


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


@pytest.fixture
def enrolled(session):  # type: ignore[no-untyped-def]
    sequences.publish_spec(session, spec=_spec())
    lead = make_lead(session)
    enrollment = enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    return enrollment


def test_publishing_keeps_running_enrollments_on_their_version(session, enrolled) -> None:
    assert _run(T0) == ["One Robin"]
    changed = _spec(
        steps=[
            {"key": "one", "subject": "NEW one", "html": "<p>1</p>"},
            {"key": "two", "delay_days": 1, "subject": "NEW two", "html": "<p>2</p>"},
        ]
    )
    result = sequences.publish_spec(session, spec=changed)
    session.commit()
    assert result.version == 2
    assert _run(T0 + timedelta(days=1, minutes=1)) == ["Two"]
    assert _run(T0 + timedelta(days=2, minutes=2)) == ["Three"]
    # A lead enrolling now gets version 2.
    newcomer = make_lead(session, email_address="new@example.com", first_name="Nia")
    enrollments.enroll(session, lead=newcomer, now=T0 + timedelta(days=3))
    session.commit()
    assert _run(T0 + timedelta(days=3, minutes=1)) == ["NEW one"]


def test_moving_enrollments_maps_steps_without_resending(session, enrolled) -> None:
    _run(T0)
    spec_v2 = _spec(
        steps=[
            {"key": "one", "subject": "One again", "html": "<p>1</p>"},
            {"key": "second", "delay_days": 1, "subject": "Second (v2)", "html": "<p>2</p>"},
            {"key": "three", "delay_days": 1, "subject": "Three (v2)", "html": "<p>3</p>"},
        ]
    )
    v2 = sequences.create_draft(session, spec=spec_v2)
    with pytest.raises(ValueError, match="only move to a published"):
        enrollments.migrate_version(session, to_version=v2)
    sequences.publish(session, version=v2)
    with pytest.raises(ValueError, match="'two' has no counterpart"):
        enrollments.migrate_version(session, to_version=v2)
    report = enrollments.migrate_version(session, to_version=v2, step_map={"two": "second"})
    session.commit()
    assert (report.moved, report.waiting) == (1, 0)
    assert _run(T0 + timedelta(days=1, minutes=1)) == ["Second (v2)"]
    assert _run(T0 + timedelta(days=2, minutes=2)) == ["Three (v2)"]
    session.expire_all()
    assert session.get(Enrollment, enrolled.id).status == "completed"  # type: ignore[union-attr]
    subjects = [m["Subject"] for m in outbox_messages(get_settings().resolved_outbox_dir)]
    assert subjects == ["One Robin", "Second (v2)", "Three (v2)"]


def test_exit_takes_effect_for_a_claimed_email_not_yet_sent(session, enrolled) -> None:
    with clock.frozen_at(T0):
        claimed = service.tick(dispatch=lambda ids: None).claimed
    assert len(claimed) == 1
    enrollments.exit_active(session, lead_id=enrolled.lead_id, reason="removed", at=T0)
    session.commit()
    with clock.frozen_at(T0):
        [outcome] = service.deliver_batch(claimed, backend=get_backend())
    assert outcome.status == "cancelled"
    assert outbox_messages(get_settings().resolved_outbox_dir) == []


def test_clicked_previous_condition(session) -> None:
    steps = [
        {"key": "one", "subject": "One", "html": "<p>1</p>"},
        {
            "key": "follow-up",
            "delay_days": 1,
            "subject": "Because you clicked",
            "html": "<p>2</p>",
            "condition": "clicked_previous",
        },
        {"key": "last", "delay_days": 1, "subject": "Last", "html": "<p>3</p>"},
    ]
    sequences.publish_spec(session, spec=_spec(steps=steps))
    clicker = make_lead(session, email_address="click@example.com", first_name="Cy")
    quiet = make_lead(session, email_address="quiet@example.com", first_name="Q")
    for lead in (clicker, quiet):
        enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    _run(T0)
    first = session.scalars(
        select(Message).where(Message.lead_id == clicker.id, Message.status == "sent")
    ).one()
    session.add(
        DeliveryEvent(provider_event_id="evt-1", message_id=first.id, event="click", occurred_at=T0)
    )
    session.commit()
    assert sorted(_run(T0 + timedelta(days=1, minutes=1))) == ["Because you clicked"]
    session.expire_all()
    skipped = session.scalars(select(Message).where(Message.status == MessageStatus.SKIPPED)).one()
    assert skipped.lead_id == quiet.id
    # The skipped lead moves straight on to the next step.
    assert sorted(_run(T0 + timedelta(days=2, minutes=2))) == ["Last", "Last"]


def test_clinic_closures_push_emails_to_the_next_open_day(session, settings) -> None:
    settings(clinic_closures="2026-06-02,2026-06-03")
    sequences.publish_spec(session, spec=_spec())
    lead = make_lead(session)
    enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    _run(T0)
    session.expire_all()
    pending = session.scalars(select(Message).where(Message.status == "pending")).one()
    local = pending.due_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.date() == date(2026, 6, 4)
    assert local.hour == 9


def test_sequence_for_audience_is_the_published_one(session) -> None:
    draft = sequences.create_draft(session, spec=_spec())
    session.commit()
    seq = session.scalars(select(Sequence)).one()
    assert sequences.live_version(session, seq.id) is None
    sequences.publish(session, version=draft)
    assert sequences.live_version(session, seq.id) == draft


def test_migrate_command_moves_enrollments_and_explains_refusals(session, enrolled) -> None:
    from click.testing import CliRunner

    from nurture.cli import main

    _run(T0)
    sequences.publish_spec(
        session,
        spec=_spec(
            steps=[
                {"key": "one", "subject": "One", "html": "<p>1</p>"},
                {"key": "deux", "delay_days": 1, "subject": "Deux", "html": "<p>2</p>"},
            ]
        ),
    )
    session.commit()
    refused = CliRunner().invoke(main, ["sequences", "migrate", "test-seq"])
    assert refused.exit_code == 1
    assert "nothing moved: step 'two' has no counterpart" in refused.output
    bad = CliRunner().invoke(main, ["sequences", "migrate", "test-seq", "--map", "two"])
    assert bad.exit_code == 2
    ok = CliRunner().invoke(main, ["sequences", "migrate", "test-seq", "--map", "two=deux"])
    assert ok.exit_code == 0, ok.output
    assert "moved 1 enrollments to version 2" in ok.output
    assert _run(T0 + timedelta(days=1, minutes=1)) == ["Deux"]
