"""Journey results (entries, goals, show rates, review clicks) and the simulator for triggers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.models import DeliveryEvent, Message, MessageStatus, Stream
from nurture.enrollments.models import Enrollment
from nurture.sequences import service as sequences
from nurture.sequences.files import parse_sequence
from nurture.sequences.models import Sequence
from nurture.sequences.simulate import simulate
from tests.factories import make_lead
from tests.studio.conftest import Studio

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")


def _publish(session, slug: str, head: str, steps: list[tuple[str, str]]) -> Sequence:  # type: ignore[no-untyped-def]
    """Publish a small patients' sequence sending 09:00-19:00; steps are (key, timing line)."""
    body = "".join(
        f"  - key: {key}\n    {timing}\n    subject: Note {key}\n"
        f"    html: '<p>Hi {{{{ first_name }}}}</p>'\n"
        for key, timing in steps
    )
    text = (
        f"slug: {slug}\nname: {slug}\naudience: patients\n{head}\n"
        f"window: {{start_hour: 9, end_hour: 19}}\nsteps:\n{body}"
    )
    sequences.publish_spec(session, spec=parse_sequence(text))
    session.commit()
    return session.scalar(select(Sequence).where(Sequence.slug == slug))


def _book(session, email: str, *, at: datetime, starts: datetime) -> Appointment:  # type: ignore[no-untyped-def]
    data = AppointmentIn(email=email, starts_at=starts, timezone="Europe/Berlin", external_id=None)
    with clock.frozen_at(at):
        appointment = appointments.book(session, data=data, now=at).appointment
        session.commit()
    return appointment


def _mark(session, appointment: Appointment, status: str, at: datetime) -> None:  # type: ignore[no-untyped-def]
    with clock.frozen_at(at):
        appointments.reschedule(
            session, appointment=appointment, patch=AppointmentPatch(status=status), now=at
        )
        session.commit()


def _journey_row(page: str, cell: str) -> str:
    cells = rf'<td class="num" id="{cell}">([^<]*)</td><td class="num">([^<]*)</td>'
    match = re.search(cells, page)
    assert match, cell
    return f"{match.group(1)} | {match.group(2)}"


def test_results_count_entries_and_goals_of_an_attended_sequence(studio: Studio, session) -> None:
    _publish(
        session,
        "after-visit",
        "trigger: attended\ngoal: booked\nreentry: never",
        [("thanks", "delay_days: 1")],
    )
    visits = {}
    for name in ("a", "b", "c"):
        make_lead(session, email_address=f"{name}@example.com")
        session.commit()
        visits[name] = _book(session, f"{name}@example.com", at=NOW, starts=NOW + 3 * DAY)
        _mark(session, visits[name], "attended", NOW + 3 * DAY + timedelta(hours=1))
    entered = NOW + 3 * DAY + timedelta(hours=1)
    # a books again within a week of entering and comes; b books only after 12 days.
    again = _book(session, "a@example.com", at=NOW + 5 * DAY, starts=NOW + 8 * DAY)
    _mark(session, again, "attended", NOW + 8 * DAY + timedelta(hours=1))
    _book(session, "b@example.com", at=entered + 12 * DAY, starts=entered + 14 * DAY)
    assert len(session.scalars(select(Enrollment)).all()) == 3
    page = studio.get("/studio/results/after-visit?days=7").text
    assert _journey_row(page, "entered") == "3 | "
    assert _journey_row(page, "goal-booked") == "1 | 33.3%"
    assert _journey_row(page, "goal-attended") == "1 | 33.3%"
    wider = studio.get("/studio/results/after-visit?days=30").text
    assert _journey_row(wider, "goal-booked") == "2 | 66.7%"
    assert _journey_row(wider, "goal-attended") == "1 | 33.3%"
    chart = page[page.index('aria-labelledby="shows-caption"') :].split("</figure>")[0]
    assert "<svg" in chart


def _enrolled(session, sequence: Sequence, email: str, at: datetime) -> Enrollment:  # type: ignore[no-untyped-def]
    lead = make_lead(session, email_address=email)
    live = sequences.live_version(session, sequence.id)
    enrollment = Enrollment(
        lead_id=lead.id, sequence_id=sequence.id, version_id=live.id, enrolled_at=at
    )
    session.add(enrollment)
    session.flush()
    return enrollment


def _visit(  # type: ignore[no-untyped-def]
    session, lead_id: int, starts: datetime, status: str, confirmed: bool
) -> None:
    session.add(
        Appointment(
            lead_id=lead_id,
            starts_at=starts,
            timezone="Europe/Berlin",
            status=status,
            confirmed_at=starts - 2 * DAY if confirmed else None,
            created_at=starts - 5 * DAY,
            updated_at=starts,
        )
    )


def test_show_rate_is_split_by_confirmation(studio: Studio, session) -> None:
    sequence = _publish(session, "reminders", "trigger: booked\ngoal: attended", [("soon", "")])
    leads = [_enrolled(session, sequence, f"p{i}@example.com", NOW).lead_id for i in range(4)]
    _visit(session, leads[0], NOW + 3 * DAY, "attended", confirmed=True)
    _visit(session, leads[1], NOW + 3 * DAY, "no_show", confirmed=True)
    _visit(session, leads[2], NOW + 3 * DAY, "attended", confirmed=False)
    _visit(session, leads[3], NOW + 3 * DAY, "no_show", confirmed=False)
    _visit(session, leads[3], NOW + 20 * DAY, "no_show", confirmed=False)
    # Not counted: no outcome yet, cancelled, or before the person entered the sequence.
    _visit(session, leads[0], NOW + 30 * DAY, "booked", confirmed=True)
    _visit(session, leads[1], NOW + 4 * DAY, "cancelled", confirmed=False)
    _visit(session, leads[2], NOW - 10 * DAY, "no_show", confirmed=True)
    session.commit()
    page = studio.get("/studio/results/reminders").text
    # Confirmed: 1 attended of 2; not confirmed: 1 attended of 3 (two no-shows by one lead).
    assert _journey_row(page, "show-confirmed") == "1 of 2 | 50.0%"
    assert _journey_row(page, "show-unconfirmed") == "1 of 3 | 33.3%"
    assert "Show rate: confirmed 50.0% (1 of 2), not confirmed 33.3% (1 of 3)." in page
    empty = _publish(session, "empty", "trigger: no_show\ngoal: booked", [("x", "")])
    assert _journey_row(studio.get(f"/studio/results/{empty.slug}").text, "show-confirmed") == (
        "0 of 0 | –"
    )


def test_review_clicks_count_clicked_review_emails_once(studio: Studio, session) -> None:
    sequence = _publish(
        session,
        "after-care",
        "trigger: attended\ngoal: []",
        [
            ("thanks", "delay_days: 1"),
            ("review", "delay_days: 2"),
            ("ask-again", "delay_days: 30\n    condition: review_due"),
        ],
    )
    steps = {s.key: s for s in sequences.live_version(session, sequence.id).steps}
    sent: dict[tuple[str, int], Message] = {}
    for i in range(3):
        enrollment = _enrolled(session, sequence, f"r{i}@example.com", NOW)
        for key in ("thanks", "review", "ask-again"):
            message = Message(
                key=f"step:{enrollment.id}:{steps[key].id}",
                stream=Stream.MARKETING,
                lead_id=enrollment.lead_id,
                enrollment_id=enrollment.id,
                step_id=steps[key].id,
                status=MessageStatus.SENT,
                due_at=NOW + DAY,
                sent_at=NOW + DAY,
            )
            session.add(message)
            session.flush()
            sent[key, i] = message
    events = [
        ("review", 0, "click"),
        ("review", 0, "click"),  # a second click on the same email counts once
        ("review", 1, "click"),
        ("review", 2, "open"),
        ("thanks", 2, "click"),  # a click on another step is not a review click
        ("ask-again", 2, "click"),  # a step sent only when a review is due asks for one too
    ]
    for n, (key, i, name) in enumerate(events):
        session.add(
            DeliveryEvent(
                provider_event_id=f"ev{n}",
                message_id=sent[key, i].id,
                event=name,
                occurred_at=NOW + 2 * DAY,
            )
        )
    session.commit()
    page = studio.get("/studio/results/after-care").text
    assert _journey_row(page, "review-clicks") == "3 of 6 | 50.0%"


def _timeline(page: str) -> list[tuple[str, str, str]]:
    table = page[page.index('id="timeline"') :]
    return re.findall(
        r"<tr><td>(\d+)</td>.*?<td>(\w{3} \d\d \w{3} \d{4})</td><td>(\d\d:\d\d)</td>", table, re.S
    )


def test_simulator_plans_an_attended_journey_as_the_engine_does(studio: Studio, session) -> None:
    sequence = _publish(
        session,
        "after-visit",
        "trigger: attended\ngoal: booked",
        [
            ("thanks", "delay_minutes: 120"),
            ("rebook", "delay_days: 2"),
            ("nudge", "wait: {until: booked, at_most_days: 5}"),
        ],
    )
    make_lead(session, timezone="Europe/Berlin")
    session.commit()
    visit = _book(session, "lead@example.com", at=NOW, starts=NOW + 3 * DAY)
    marked = datetime(2026, 3, 5, 17, 30, tzinfo=UTC)  # Thu 18:30 in Berlin
    _mark(session, visit, "attended", marked)
    [first] = session.scalars(select(Message).where(Message.stream == Stream.MARKETING)).all()
    live = sequences.live_version(session, sequence.id)
    planned = simulate(live, confirmed_at=marked, tz=BERLIN)
    assert first.due_at == planned[0].due_at
    # The engine plans each next step from the one before, once it is sent.
    assert [p.local.strftime("%a %H:%M") for p in planned] == [
        "Fri 09:00",  # 20:30 is outside 09:00-19:00
        "Sun 09:00",
        "Fri 09:00",
    ]
    page = studio.get(
        "/studio/simulator?sequence=after-visit&day=2026-03-05&at=18:30&timezone=Europe/Berlin"
    ).text
    assert _timeline(page) == [
        ("1", "Fri 06 Mar 2026", "09:00"),
        ("2", "Sun 08 Mar 2026", "09:00"),
        ("3", "Fri 13 Mar 2026", "09:00"),
    ]
    assert "for a person who is marked attended at a visit on 2026-03-05 at 18:30" in page
    assert "For after-visit the date and time are when the person is marked attended" in page
    assert "shown as if they never do" in page
    assert "as if the event never happens" in page


def test_simulator_counts_absences_from_when_the_tick_finds_them(
    studio: Studio, session, settings
) -> None:
    settings(rebook_after_days="2", recall_after_days="90")
    sequence = _publish(
        session,
        "rebook",
        "trigger: cancelled_not_rebooked",
        [("new-time", "delay_days: 1"), ("later", "delay_days: 3")],
    )
    _publish(session, "recall", "trigger: lapsed", [("come-back", "")])
    make_lead(session, timezone="Europe/Berlin")
    session.commit()
    visit = _book(session, "lead@example.com", at=NOW, starts=NOW + 3 * DAY)
    cancelled = NOW + DAY + timedelta(hours=2)  # Tue 12:00 in Berlin
    with clock.frozen_at(cancelled):
        appointments.cancel(session, appointment=visit, now=cancelled)
        session.commit()
    found = cancelled + 2 * DAY + timedelta(minutes=1)
    with clock.frozen_at(found):
        service.tick(dispatch=lambda ids: None)
    [first] = session.scalars(select(Message).where(Message.stream == Stream.MARKETING)).all()
    planned = simulate(
        sequences.live_version(session, sequence.id), confirmed_at=cancelled, tz=BERLIN
    )
    # Due a day after the cancel, it is already due when the scan starts the journey.
    assert first.due_at == cancelled + DAY
    assert planned[0].due_at == cancelled + 2 * DAY
    assert planned[0].note == "already due when the journey starts; goes at once"
    page = studio.get(
        "/studio/simulator?sequence=rebook&day=2026-03-03&at=12:00&timezone=Europe/Berlin"
    ).text
    assert _timeline(page) == [
        ("1", "Thu 05 Mar 2026", "12:00"),
        ("2", "Sun 08 Mar 2026", "12:00"),
    ]
    assert "The journey starts 2 days later if nothing was booked" in page
    recall = studio.get(
        "/studio/simulator?sequence=recall&day=2026-03-03&at=12:00&timezone=Europe/Berlin"
    ).text
    # Ninety days in UTC, as the scan counts them: 13:00 once Berlin is on summer time.
    assert _timeline(recall) == [("1", "Mon 01 Jun 2026", "13:00")]
    assert "The date is the last visit." in recall
