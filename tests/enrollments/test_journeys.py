"""Visits drive journeys: triggers start sequences, goals end them, waits, re-entry, the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import Message, MessageStatus, Stream
from nurture.enrollments.models import Enrollment
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.sequences import service as sequences
from nurture.sequences.files import parse_sequence
from nurture.sequences.models import Sequence
from tests.factories import make_lead

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def _sequence(slug: str, head: str, steps: list[tuple[str, str]]) -> str:
    """A minimal test sequence open all day, every day; steps are (key, timing line)."""
    body = "".join(
        f"  - key: {key}\n    {timing}\n    subject: Note {key}\n"
        f"    html: '<p>Hi {{{{ first_name }}}}</p>'\n"
        for key, timing in steps
    )
    return (
        f"slug: {slug}\nname: {slug}\naudience: patients\n{head}\n"
        f"window: {{start_hour: 0, end_hour: 24}}\nsteps:\n{body}"
    )


def _publish(session, text: str) -> None:  # type: ignore[no-untyped-def]
    sequences.publish_spec(session, spec=parse_sequence(text))
    session.commit()


def _tick(at: datetime) -> list[str]:
    """Run a tick at `at`; return the keys of the marketing steps it sent."""
    sent: list[int] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.message_id
                for o in service.deliver_batch(ids, backend=get_backend())
                if o.status == "sent"
            )
        )
    from nurture.core.db import session_scope

    with session_scope() as s:
        rows = s.scalars(
            select(Message).where(Message.id.in_(sent), Message.stream == Stream.MARKETING)
        )
        return sorted(_key(s, m) for m in rows)


def _key(session, message: Message) -> str:  # type: ignore[no-untyped-def]
    from nurture.sequences.models import Step

    step = session.get(Step, message.step_id)
    return step.key if step else ""


def _book(session, *, at: datetime, email: str = "lead@example.com") -> Appointment:  # type: ignore[no-untyped-def]
    data = AppointmentIn(
        email=email, starts_at=at + 3 * DAY, timezone="Europe/Berlin", external_id=None
    )
    appointment = appointments.book(session, data=data, now=at).appointment
    session.commit()
    return appointment


def _outcome(session, appointment: Appointment, status: str, at: datetime) -> None:  # type: ignore[no-untyped-def]
    appointments.reschedule(
        session, appointment=appointment, patch=AppointmentPatch(status=status), now=at
    )
    session.commit()


def _enrollments(session, slug: str) -> list[Enrollment]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(
        session.scalars(
            select(Enrollment)
            .join(Sequence, Sequence.id == Enrollment.sequence_id)
            .where(Sequence.slug == slug)
            .order_by(Enrollment.id)
        )
    )


# --- triggers ----------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["booked", "attended", "no_show"])
def test_each_visit_event_starts_the_sequence_it_triggers(session, trigger: str) -> None:
    others = {"booked", "attended", "no_show"} - {trigger}
    goal = "goal: attended" if trigger == "booked" else "goal: []"
    slug = trigger.replace("_", "-")
    _publish(session, _sequence(slug, f"trigger: {trigger}\n{goal}", [("one", "delay_days: 0")]))
    for other in others:  # a sequence for every other event, which must stay quiet
        head = f"trigger: {other}\ngoal: []"
        _publish(session, _sequence(f"x-{other.replace('_', '-')}", head, [("x", "")]))
    make_lead(session)
    session.commit()
    appointment = _book(session, at=NOW)
    if trigger != "booked":
        _outcome(session, appointment, trigger, NOW + 3 * DAY + timedelta(hours=1))
    assert len(_enrollments(session, slug)) == 1
    started = {o: len(_enrollments(session, f"x-{o.replace('_', '-')}")) for o in others}
    expected = {o: int(o == "booked") for o in others}  # every case books first
    assert started == expected


def test_a_sequence_with_a_trigger_is_never_started_by_its_audience(session) -> None:
    _publish(
        session,
        _sequence("recall", "trigger: lapsed", [("one", "")]).replace(
            "audience: patients", "audience: chronic"
        ),
    )
    lead = make_lead(session, numbness_type="chronic")
    from nurture.enrollments import service as enrollments

    assert enrollments.enroll(session, lead=lead, now=NOW) is None


def test_cancel_not_rebooked_within_n_days_starts_the_rebook_sequence(session, settings) -> None:
    settings(rebook_after_days="2")
    _publish(
        session,
        _sequence("rebook", "trigger: cancelled_not_rebooked", [("new-time", "delay_days: 2")]),
    )
    make_lead(session)
    make_lead(session, email_address="back@example.com")
    session.commit()
    stays = _book(session, at=NOW)
    returns = _book(session, at=NOW, email="back@example.com")
    appointments.cancel(session, appointment=stays, now=NOW)
    appointments.cancel(session, appointment=returns, now=NOW)
    session.commit()
    _book(session, at=NOW + DAY, email="back@example.com")  # rebooked within the 2 days
    assert _tick(NOW + DAY + timedelta(hours=1)) == []
    assert _enrollments(session, "rebook") == []
    # Two days after the cancel: counted from the cancel, the first email is due at once.
    assert _tick(NOW + 2 * DAY + timedelta(minutes=1)) == ["new-time"]
    [enrollment] = _enrollments(session, "rebook")
    assert enrollment.lead.email == "lead@example.com"
    assert _tick(NOW + 3 * DAY) == []  # the same cancel never starts it twice
    assert len(_enrollments(session, "rebook")) == 1


def test_lapsed_patients_get_the_recall_through_the_tick(session) -> None:
    _publish(session, _sequence("recall", "trigger: lapsed", [("come-back", "")]))
    make_lead(session)
    make_lead(session, email_address="booked@example.com")
    session.commit()
    for email in ("lead@example.com", "booked@example.com"):
        _outcome(session, _book(session, at=NOW, email=email), "attended", NOW + 3 * DAY)
    _book(session, at=NOW + 90 * DAY, email="booked@example.com")  # something booked ahead
    visit = NOW + 3 * DAY
    assert _tick(visit + 89 * DAY) == []
    assert _tick(visit + 91 * DAY) == ["come-back"]
    [enrollment] = _enrollments(session, "recall")
    assert enrollment.lead.email == "lead@example.com"
    assert _tick(visit + 100 * DAY) == []  # one recall per lapse
    assert len(_enrollments(session, "recall")) == 1


# --- goals -------------------------------------------------------------------------------


def _claimed_rebook(session) -> int:  # type: ignore[no-untyped-def]
    """A lead in a no-show sequence whose first email is claimed but not yet sent."""
    _publish(
        session,
        _sequence("rebook", "trigger: no_show\ngoal: booked", [("new-time", "delay_days: 1")]),
    )
    make_lead(session)
    session.commit()
    _outcome(session, _book(session, at=NOW), "no_show", NOW + 3 * DAY + timedelta(hours=1))
    claimed: list[int] = []
    with clock.frozen_at(NOW + 5 * DAY):
        service.tick(dispatch=claimed.extend)
    [row] = session.scalars(select(Message).where(Message.id.in_(claimed))).all()
    assert row.status == MessageStatus.SENDING
    return row.id


def test_booking_reaches_the_goal_and_stops_a_claimed_email(session) -> None:
    message_id = _claimed_rebook(session)
    _book(session, at=NOW + 5 * DAY)
    [outcome] = service.deliver_batch([message_id], backend=get_backend())
    assert outcome.status == "cancelled"
    [enrollment] = _enrollments(session, "rebook")
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "booked")


def test_a_goal_reached_outside_the_booking_service_is_caught_at_send_time(session) -> None:
    message_id = _claimed_rebook(session)
    lead = session.scalars(select(Lead)).one()
    # A visit that arrived without telling the journeys (an import of the clinic's records).
    session.add(
        Appointment(
            lead_id=lead.id,
            starts_at=NOW + 9 * DAY,
            timezone="Europe/Berlin",
            created_at=NOW + 5 * DAY,
            updated_at=NOW + 5 * DAY,
        )
    )
    session.commit()
    with clock.frozen_at(NOW + 5 * DAY + timedelta(minutes=1)):
        [outcome] = service.deliver_batch([message_id], backend=get_backend())
    assert (outcome.status, outcome.detail) == ("cancelled", "goal reached: booked")
    [enrollment] = _enrollments(session, "rebook")
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "booked")


# --- re-entry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reentry", "second_after_days", "expected"),
    [("never", 400, 1), ("{after_days: 180}", 100, 1), ("{after_days: 180}", 181, 2)],
)
def test_reentry(session, reentry: str, second_after_days: int, expected: int) -> None:
    head = f"trigger: attended\ngoal: []\nreentry: {reentry}"
    _publish(session, _sequence("care", head, [("tips", "")]))
    make_lead(session)
    session.commit()
    first = _book(session, at=NOW)
    _outcome(session, first, "attended", NOW + 3 * DAY)
    assert _tick(NOW + 3 * DAY + timedelta(minutes=1)) == ["tips"]  # done: completed
    later = NOW + second_after_days * DAY
    _outcome(session, _book(session, at=later), "attended", later + 3 * DAY)
    assert len(_enrollments(session, "care")) == expected


# --- waits -------------------------------------------------------------------------------

WAITING = [
    ("missed", ""),
    ("nudge", "wait: {until: booked, at_most_days: 5}"),
    ("later", "delay_days: 1"),
]


def _waiting(session) -> None:  # type: ignore[no-untyped-def]
    _publish(session, _sequence("waits", "trigger: no_show\ngoal: []", WAITING))
    make_lead(session)
    session.commit()
    _outcome(session, _book(session, at=NOW), "no_show", NOW + 3 * DAY)
    assert _tick(NOW + 3 * DAY + timedelta(minutes=1)) == ["missed"]


def test_wait_until_times_out_and_sends(session) -> None:
    _waiting(session)
    start = NOW + 3 * DAY + timedelta(minutes=1)
    assert _tick(start + 4 * DAY) == []
    assert _tick(start + 5 * DAY + timedelta(minutes=1)) == ["nudge"]


def test_wait_until_skips_the_step_when_the_event_comes_first(session) -> None:
    _waiting(session)
    start = NOW + 3 * DAY + timedelta(minutes=1)
    _book(session, at=start + DAY)
    assert _tick(start + 5 * DAY + timedelta(minutes=1)) == []
    nudge = session.scalars(select(Message).where(Message.step_id.is_not(None))).all()
    reasons = {m.last_error for m in nudge if m.status == MessageStatus.SKIPPED}
    assert reasons == {"wait until booked: it happened"}
    assert _tick(start + 6 * DAY + timedelta(minutes=2)) == ["later"]


# --- the weekly cap ----------------------------------------------------------------------


def test_weekly_cap_moves_the_fourth_email_and_never_loses_it(session, settings) -> None:
    settings(max_marketing_per_week="3")
    for slug in ("tips", "review"):
        steps = [(f"{slug}-1", ""), (f"{slug}-2", "delay_days: 1")]
        _publish(session, _sequence(slug, "trigger: attended\ngoal: []", steps))
    make_lead(session)
    session.commit()
    visit = NOW + 3 * DAY
    _outcome(session, _book(session, at=NOW), "attended", visit)
    assert _tick(visit) == ["review-1", "tips-1"]
    assert len(_tick(visit + DAY + timedelta(minutes=1))) == 1  # the 4th is held back
    [held] = session.scalars(
        select(Message).where(Message.status == MessageStatus.PENDING, Message.step_id.is_not(None))
    ).all()
    assert held.due_at == visit + 7 * DAY
    assert "weekly cap" in (held.last_error or "")
    assert _tick(visit + 6 * DAY) == []
    assert len(_tick(visit + 7 * DAY)) == 1
    sent = session.scalars(select(Message).where(Message.status == MessageStatus.SENT))
    assert sum(m.stream == Stream.MARKETING for m in sent) == 4


def test_transactional_mail_is_never_capped_nor_counted(session, settings) -> None:
    settings(max_marketing_per_week="1")
    _publish(session, _sequence("tips", "trigger: booked\ngoal: []", [("a", ""), ("b", "")]))
    make_lead(session)
    session.commit()
    appointment = _book(session, at=NOW)
    assert _tick(NOW) == ["a"]  # sent beside the booking confirmation
    # The cap is reached: a change to the visit is still announced at once.
    appointments.reschedule(
        session,
        appointment=session.get(Appointment, appointment.id),
        patch=AppointmentPatch(starts_at=NOW + 4 * DAY),
        now=NOW + timedelta(minutes=1),
    )
    session.commit()
    assert _tick(NOW + timedelta(minutes=2)) == []
    session.expire_all()
    statuses = {(m.template or "step", m.status) for m in session.scalars(select(Message))}
    assert ("appointment_confirmation", MessageStatus.SENT) in statuses
    assert ("appointment_update", MessageStatus.SENT) in statuses
    assert ("step", MessageStatus.PENDING) in statuses  # "b", moved by the cap


# --- consent -----------------------------------------------------------------------------


@pytest.mark.parametrize("soft", [False, True])
def test_recall_needs_consent_unless_soft_opt_in(session, settings, soft: bool) -> None:
    settings(soft_opt_in_patients=str(soft).lower())
    _publish(session, _sequence("recall", "trigger: lapsed", [("come-back", "")]))
    # Booked directly: a patient who never opted in to marketing.
    _outcome(session, _book(session, at=NOW), "attended", NOW + 3 * DAY)
    lead = session.scalars(select(Lead)).one()
    assert lead.status == LeadStatus.NO_CONSENT
    sent = _tick(NOW + 95 * DAY)
    session.expire_all()
    ledger = session.scalars(select(ConsentRecord)).all()
    if not soft:
        assert sent == []
        assert ledger == []
        assert _enrollments(session, "recall") == []
        return
    assert sent == ["come-back"]
    [record] = ledger
    assert record.text_version == "soft-opt-in-1"
    assert record.source == "soft opt-in: existing patient (lapsed)"
    assert session.get(Lead, lead.id).status == LeadStatus.ACTIVE


# --- the file format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "steps", "expected"),
    [
        ("trigger: booked\ngoal: booked", [("a", "")], "it would end at once"),
        ("trigger: sometime", [("a", "")], "trigger"),
        ("reentry: {after_days: 0}", [("a", "")], "after_days"),
        ("", [("a", "delay_days: 2\n    wait: {until: booked, at_most_days: 5}")], "at_most_days"),
    ],
)
def test_bad_journey_keys_are_refused(
    head: str, steps: list[tuple[str, str]], expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        parse_sequence(_sequence("bad", head, steps))


def test_journey_keys_round_trip_and_a_file_without_them_means_signup(session) -> None:
    head = "trigger: lapsed\ngoal: [attended, booked]\nreentry: {after_days: 30}"
    text = _sequence("care", head, [("a", ""), ("b", "wait: {until: booked, at_most_days: 3}")])
    _publish(session, text)
    assert sequences.publish_spec(session, spec=parse_sequence(text)).changed is False
    plain = parse_sequence(_sequence("plain", "", [("a", "")]))
    assert (plain.trigger, plain.goals, plain.reentry) == (None, ["booked"], None)
    _publish(session, _sequence("plain", "", [("a", "")]))
    version = sequences.live_version(
        session, session.scalars(select(Sequence.id).where(Sequence.slug == "plain")).one()
    )
    assert version is not None
    assert (version.trigger, version.goals, version.reentry) == ("signup", ["booked"], "always")
