"""Sending a broadcast: the tick plans and sends it, checks again at send, cancels, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.broadcasts import service as broadcasts
from nurture.broadcasts.models import BroadcastStatus
from nurture.broadcasts.results import broadcast_results
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.leads import preference_changes
from nurture.leads import service as leads
from nurture.leads.models import Lead, LeadStatus
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Stream, Suppression
from tests.broadcasts.test_planning import NOW, make_broadcast, rows
from tests.factories import make_lead, outbox_messages, text_part

YORK = "America/New_York"


def tick(at: datetime) -> list[service.Outcome]:
    """Run one tick at `at`, delivering what it claims; return the outcomes."""
    outcomes: list[service.Outcome] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: outcomes.extend(service.deliver_batch(ids, backend=get_backend()))
        )
    return outcomes


def test_the_tick_plans_and_sends_it_like_a_sequence_email(session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="ann@example.com", first_name="Ann", timezone=YORK)
    make_lead(session, email_address="bea@example.com", first_name="Bea", timezone="Europe/Berlin")
    session.commit()
    broadcast = make_broadcast(session)

    sent = tick(NOW)
    assert [o.status for o in sent] == ["sent"]  # Berlin's window is closed until morning
    session.refresh(broadcast)
    assert broadcast.status == BroadcastStatus.SENDING
    (email,) = outbox_messages(get_settings().resolved_outbox_dir)
    assert email["To"] == "ann@example.com"
    assert email["Subject"] == "New evening hours"
    assert email["List-Unsubscribe"].startswith("<https://nurture.test/unsubscribe/")
    assert "Hello Ann," in text_part(email)
    assert "open until 8 pm" in text_part(email)

    assert tick(NOW + timedelta(hours=1)) == []
    assert [o.status for o in tick(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))] == ["sent"]
    session.refresh(broadcast)
    assert broadcast.status == BroadcastStatus.SENT
    assert broadcast.finished_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_consent_and_suppression_are_checked_again_at_send(session) -> None:  # type: ignore[no-untyped-def]
    for name in ("stays", "leaves", "bounces", "pauses"):
        make_lead(session, email_address=f"{name}@example.com", timezone="Europe/Berlin")
    session.commit()
    broadcast = make_broadcast(session)
    tick(NOW)  # planned for 09:00 Berlin tomorrow
    assert len(rows(session, broadcast)) == 4
    leaves = session.scalar(select(Lead).where(Lead.email == "leaves@example.com"))
    leads.unsubscribe(session, lead=leaves, now=NOW)
    # Added straight to the list (suppress() would also cancel the row at once): the send-time
    # check is what stops it here.
    session.add(Suppression(email="bounces@example.com", reason="bounce", source="test"))
    pauses = session.scalar(select(Lead).where(Lead.email == "pauses@example.com"))
    until = preference_changes.pause(session, lead=pauses, weeks=1, now=NOW)
    session.commit()

    tick(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    status = {m.lead.email: m.status for m in rows(session, broadcast) if m.lead}
    assert status == {
        "stays@example.com": MessageStatus.SENT,
        "leaves@example.com": MessageStatus.CANCELLED,
        "bounces@example.com": MessageStatus.SUPPRESSED,
        "pauses@example.com": MessageStatus.PENDING,  # held until the pause ends
    }
    left = next(m for m in rows(session, broadcast) if m.status == MessageStatus.CANCELLED)
    assert left.last_error is not None
    assert left.last_error.startswith("not sent: ")  # no enrollment of theirs ended
    held = next(m for m in rows(session, broadcast) if m.status == MessageStatus.PENDING)
    assert held.due_at == until
    # The broadcast itself reached only the lead who stayed (the others got service notes).
    emails = outbox_messages(get_settings().resolved_outbox_dir)
    assert [m["To"] for m in emails if m["Subject"] == "New evening hours"] == ["stays@example.com"]


def test_the_weekly_cap_moves_it_into_a_later_window(session, settings) -> None:  # type: ignore[no-untyped-def]
    settings(max_marketing_per_week="1")
    lead = make_lead(session, email_address="busy@example.com", timezone=YORK)
    session.add(
        Message(
            key="earlier",
            stream=Stream.MARKETING,
            lead_id=lead.id,
            status=MessageStatus.SENT,
            due_at=NOW - timedelta(days=2),
            sent_at=datetime(2026, 2, 28, 3, 0, tzinfo=UTC),  # 22:00 in New York
        )
    )
    session.commit()
    broadcast = make_broadcast(session)
    assert [o.status for o in tick(NOW)] == ["pending"]
    (held,) = rows(session, broadcast)
    # Seven days after the earlier send is 22:00 New York: the window opens at 09:00 next day.
    assert held.due_at == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)
    assert "weekly cap" in (held.last_error or "")


def test_cancel_stops_every_email_not_yet_sent(session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="york@example.com", timezone=YORK)
    make_lead(session, email_address="berlin@example.com", timezone="Europe/Berlin")
    session.commit()
    broadcast = make_broadcast(session)
    tick(NOW)
    # A worker has claimed Berlin's email when staff cancel: the send-time check stops it.
    berlin = next(m for m in rows(session, broadcast) if m.status == MessageStatus.PENDING)
    berlin.status = MessageStatus.SENDING
    session.commit()
    assert broadcasts.cancel(session, broadcast=broadcast, now=NOW) == 0
    session.commit()
    [outcome] = service.deliver_batch([berlin.id], backend=get_backend())
    assert (outcome.status, outcome.detail) == ("cancelled", "the broadcast was cancelled")
    assert sorted(m.status for m in rows(session, broadcast)) == ["cancelled", "sent"]

    # Cancelled before its morning: the pending row is cancelled at once.
    other = make_broadcast(session)
    tick(NOW)
    assert broadcasts.cancel(session, broadcast=other, now=NOW) == 1
    session.commit()
    assert tick(datetime(2026, 3, 3, 8, 0, tzinfo=UTC)) == []
    assert sorted(m.status for m in rows(session, other)) == ["cancelled", "sent"]


def test_results_count_outcomes_events_unsubscribes_and_bookings(session) -> None:  # type: ignore[no-untyped-def]
    people = [
        make_lead(session, email_address=f"p{i}@example.com", timezone=YORK) for i in range(4)
    ]
    make_lead(session, email_address="nope@example.com", status=LeadStatus.NO_CONSENT)
    session.commit()
    broadcast = make_broadcast(session)
    tick(NOW)
    sent = {m.lead_id: m for m in rows(session, broadcast)}
    first, second, third, _ = people
    for i, (lead, event) in enumerate(
        [(first, "delivered"), (first, "open"), (first, "click"), (second, "bounce")]
    ):
        session.add(
            DeliveryEvent(
                provider_event_id=f"e{i}",
                message_id=sent[lead.id].id,
                event=event,
                occurred_at=NOW,
            )
        )
    session.add(
        Appointment(
            lead_id=first.id,
            starts_at=NOW + timedelta(days=9),
            timezone=YORK,
            created_at=NOW + timedelta(days=2),
        )
    )
    session.add(  # booked too late to count within 7 days
        Appointment(
            lead_id=second.id,
            starts_at=NOW + timedelta(days=20),
            timezone=YORK,
            created_at=NOW + timedelta(days=8),
        )
    )
    leads.unsubscribe(session, lead=third, now=NOW + timedelta(hours=2))
    session.commit()

    result = broadcast_results(session, broadcast, booked_within_days=7)
    assert (result.planned, result.excluded, result.sent) == (4, 1, 4)
    assert result.after["delivered"] == result.after["opened"] == result.after["clicked"] == 1
    assert result.after["bounced"] == 1
    assert result.after["unsubscribed"] == 1
    assert result.after["booked"] == 1
    assert result.rate("clicked") == "25.0%"
    assert broadcast_results(session, broadcast, booked_within_days=14).after["booked"] == 2


def test_nurture_tick_says_how_many_broadcast_emails_it_planned(session) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from nurture.cli import main

    make_lead(session, email_address="ann@example.com", first_name="Ann", timezone=YORK)
    make_lead(session, email_address="cy@example.com", first_name="Cy", timezone=YORK)
    session.commit()
    make_broadcast(session)
    result = CliRunner().invoke(main, ["tick", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert "planned 2 broadcast emails" in result.output


def test_a_type_change_keeps_a_planned_broadcast_and_unsubscribing_stops_it(session) -> None:  # type: ignore[no-untyped-def]
    stays = make_lead(session, email_address="dee@example.com", timezone="Europe/Berlin")
    goes = make_lead(session, email_address="eve@example.com", timezone="Europe/Berlin")
    session.commit()
    broadcast = make_broadcast(session)
    tick(NOW)  # planned for the morning in Berlin
    new_type = "chronic" if stays.numbness_type != "chronic" else "acute"
    assert preference_changes.change_type(session, lead=stays, numbness_type=new_type, now=NOW)
    leads.unsubscribe(session, lead=goes, now=NOW)
    session.commit()
    status = {m.lead.email: m.status for m in rows(session, broadcast) if m.lead}
    assert status == {
        "dee@example.com": MessageStatus.PENDING,
        "eve@example.com": MessageStatus.CANCELLED,
    }
