"""What a journey achieved: who entered, who reached a goal, who came, who clicked to review."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, distinct, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core.db import chunked
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus
from nurture.sequences.models import REVIEW_DUE, Sequence, SequenceVersion, Step

# A review request is the step keyed `review` or any step sent only when a review is due; its
# clicks are the review link's clicks.
REVIEW_KEY = "review"


@dataclass(frozen=True, slots=True)
class ShowRate:
    """Visits with an outcome (attended or no-show) and how many of them were attended."""

    attended: int
    with_outcome: int

    @property
    def rate(self) -> str:
        """Return the share attended as a percentage, or a dash when nothing is known."""
        if not self.with_outcome:
            return "–"
        return f"{100 * self.attended / self.with_outcome:.1f}%"


@dataclass(frozen=True, slots=True)
class JourneyResult:
    """Counts for one sequence as a journey, goals within `days` of entering."""

    entered: int
    booked: int
    attended: int
    confirmed: ShowRate
    unconfirmed: ShowRate
    review_emails: int
    review_clicked: int
    days: int

    def share(self, count: int) -> str:
        """Return `count` as a percentage of the people who entered."""
        return f"{100 * count / self.entered:.1f}%" if self.entered else "–"


def journey_results(
    session: Session,
    sequence: Sequence,
    *,
    within_days: int,
    leads: ColumnElement[bool] | None = None,
) -> JourneyResult:
    """Count entries, goals reached within `within_days`, show rates and review clicks.

    Goals count per entry (a lead who entered twice can reach them twice); visits count once,
    for each lead's first entry, so the show rate is of visits that came after entering.
    `leads`, a condition on Lead, counts only the leads it matches (one site's).
    """
    entries = session.execute(
        select(Enrollment.lead_id, Enrollment.enrolled_at).where(
            Enrollment.sequence_id == sequence.id, *_of(Enrollment.lead_id, leads)
        )
    ).all()
    first: dict[int, datetime] = {}
    for lead_id, at in entries:
        first[lead_id] = min(at, first.get(lead_id, at))
    visits: dict[int, list[Row[int, datetime, datetime, str, datetime | None]]]
    visits = defaultdict(list)
    columns = (
        Appointment.lead_id,
        Appointment.created_at,
        Appointment.starts_at,
        Appointment.status,
        Appointment.confirmed_at,
    )
    for chunk in chunked(sorted(first)):
        for visit in session.execute(select(*columns).where(Appointment.lead_id.in_(chunk))):
            visits[visit.lead_id].append(visit)
    window = timedelta(days=within_days)
    booked = attended = 0
    for lead_id, at in entries:
        # Strictly after entering: a booking or visit that started the journey is not its goal.
        mine = visits.get(lead_id, [])
        booked += any(at < v.created_at <= at + window for v in mine)
        attended += any(
            v.status == AppointmentStatus.ATTENDED and at < v.starts_at <= at + window for v in mine
        )
    shows = {True: [0, 0], False: [0, 0]}
    outcomes = (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)
    for lead_id, at in first.items():
        for v in visits.get(lead_id, []):
            if v.status in outcomes and v.starts_at > at:
                tally = shows[v.confirmed_at is not None]
                tally[0] += v.status == AppointmentStatus.ATTENDED
                tally[1] += 1
    emails, clicked = _review_clicks(session, sequence, leads)
    return JourneyResult(
        entered=len(entries),
        booked=booked,
        attended=attended,
        confirmed=ShowRate(*shows[True]),
        unconfirmed=ShowRate(*shows[False]),
        review_emails=emails,
        review_clicked=clicked,
        days=within_days,
    )


def _of(column: Any, leads: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    """Return the condition that `column`, a lead id, is one of `leads` (none for every lead)."""
    return [] if leads is None else [column.in_(select(Lead.id).where(leads))]


def _review_clicks(
    session: Session, sequence: Sequence, leads: ColumnElement[bool] | None = None
) -> tuple[int, int]:
    """Return how many review emails went out and how many of them had a click."""
    review = (
        select(Message.id)
        .join(Step, Step.id == Message.step_id)
        .join(SequenceVersion, SequenceVersion.id == Step.version_id)
        .where(
            SequenceVersion.sequence_id == sequence.id,
            (Step.key == REVIEW_KEY) | (Step.condition == REVIEW_DUE),
            Message.status == MessageStatus.SENT,
            *_of(Message.lead_id, leads),
        )
    )
    sent = session.scalar(select(func.count()).select_from(review.subquery())) or 0
    clicked = session.scalar(
        select(func.count(distinct(DeliveryEvent.message_id))).where(
            DeliveryEvent.event == "click", DeliveryEvent.message_id.in_(review)
        )
    )
    return sent, clicked or 0
