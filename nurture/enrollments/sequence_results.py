"""What each sequence and step achieved: sends, provider events, unsubscribes and bookings."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence as Rows
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment
from nurture.core import languages
from nurture.core.config import get_settings
from nurture.core.db import chunked
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import Lead
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus
from nurture.sequences.models import Sequence, SequenceVersion, Step
from nurture.sequences.service import live_version

# Provider event names counted under each column (a message counts once per column).
EVENT_COLUMNS = {
    "delivered": ("delivered",),
    "opened": ("open",),
    "clicked": ("click",),
    "unsubscribed": ("unsubscribe", "group_unsubscribe"),
    "bounced": ("bounce",),
    "complained": ("spamreport",),
}
COLUMNS = ("sent", *EVENT_COLUMNS, "booked")


@dataclass(slots=True)
class StepResult:
    """Counts for one step (by key, across the versions that had it)."""

    key: str
    position: int
    subject: str
    counts: Counter[str] = field(default_factory=Counter)

    def rate(self, column: str) -> str:
        sent = self.counts["sent"]
        return f"{100 * self.counts[column] / sent:.1f}%" if sent else "–"


@dataclass(slots=True)
class SequenceResult:
    """Counts for one sequence, its steps, and its sends per day."""

    sequence: Sequence
    steps: list[StepResult]
    total: Counter[str]
    per_day: list[tuple[date, int]]
    days: int


def sequence_results(
    session: Session,
    sequence: Sequence,
    *,
    booked_within_days: int,
    now: datetime,
    span: int = 30,
    language: str | None = None,
    leads: ColumnElement[bool] | None = None,
) -> SequenceResult:
    """Count what a sequence's emails led to. Test sends have no outbox row: never counted.

    `leads`, a condition on Lead, counts only the emails of the leads it matches. With
    `language`, only the emails written in it (those sent before languages were recorded
    count as the default language).
    """
    live = live_version(session, sequence.id)
    # Every live step gets a row, sent or not; steps only older versions had follow them.
    by_key = {s.key: StepResult(s.key, s.position, s.subject) for s in live.steps} if live else {}
    query = (
        select(Message.id, Message.lead_id, Message.sent_at, Step.key, Step.position, Step.subject)
        .join(Step, Step.id == Message.step_id)
        .join(SequenceVersion, SequenceVersion.id == Step.version_id)
        .where(SequenceVersion.sequence_id == sequence.id, Message.status == MessageStatus.SENT)
        .where(*([Message.lead_id.in_(select(Lead.id).where(leads))] if leads is not None else []))
    )
    if language is not None:
        written = Message.language == language
        if language == languages.default():
            written = or_(written, Message.language.is_(None))
        query = query.where(written)
    sent = session.execute(query).all()
    key_of: dict[int, str] = {}
    for message_id, _, _, key, position, subject in sent:
        if key not in by_key:
            by_key[key] = StepResult(key, position + 1000, subject)
        by_key[key].counts["sent"] += 1
        key_of[message_id] = key
    counted: dict[str, set[int]] = defaultdict(set)
    if key_of:
        wanted = {name: column for column, names in EVENT_COLUMNS.items() for name in names}
        events = session.execute(
            select(DeliveryEvent.message_id, DeliveryEvent.event)
            .join(Message, Message.id == DeliveryEvent.message_id)
            .join(Step, Step.id == Message.step_id)
            .join(SequenceVersion, SequenceVersion.id == Step.version_id)
            .where(
                SequenceVersion.sequence_id == sequence.id,
                DeliveryEvent.event.in_(wanted.keys()),
            )
        )
        for event_message, event in events:
            if event_message in key_of:
                counted[wanted[event]].add(event_message)
        # Unsubscribes through our own link: the last email sent before the lead left.
        left = session.execute(
            select(Message.id)
            .join(Enrollment, Enrollment.id == Message.enrollment_id)
            .join(Step, Step.id == Message.step_id)
            .where(
                Enrollment.sequence_id == sequence.id,
                Enrollment.status == EnrollmentStatus.EXITED,
                Enrollment.exit_reason == "unsubscribed",
                Step.position == Enrollment.last_position,
                Message.status == MessageStatus.SENT,
            )
        )
        counted["unsubscribed"].update(m for (m,) in left if m in key_of)
        counted["booked"] = booked_after(session, sent, booked_within_days)
    for column, ids in counted.items():
        for message_id in ids:
            by_key[key_of[message_id]].counts[column] += 1
    steps = sorted(by_key.values(), key=lambda r: r.position)
    total: Counter[str] = Counter()
    for r in steps:
        total.update(r.counts)
    return SequenceResult(sequence, steps, total, _per_day(sent, now, span), booked_within_days)


def booked_after(session: Session, sent: Rows[Any], days: int) -> set[int]:
    """Return the emails after which the lead booked a visit within `days`.

    `sent` rows start (message id, lead id, sent at); a booking counts when the appointment was
    created at or after the send and no more than `days` later.
    """
    leads = {lead_id for _, lead_id, *_ in sent}
    booked: dict[int, list[datetime]] = defaultdict(list)
    for chunk in chunked(sorted(leads)):
        for lead_id, created in session.execute(
            select(Appointment.lead_id, Appointment.created_at).where(
                Appointment.lead_id.in_(chunk)
            )
        ):
            booked[lead_id].append(created)
    for visits in booked.values():
        visits.sort()
    window = timedelta(days=days)
    hits = set()
    for message_id, lead_id, sent_at, *_ in sent:
        times = booked.get(lead_id)
        if not times or sent_at is None:
            continue
        i = bisect.bisect_left(times, sent_at)
        if i < len(times) and times[i] <= sent_at + window:
            hits.add(message_id)
    return hits


def _per_day(sent: Rows[Any], now: datetime, span: int) -> list[tuple[date, int]]:
    tz = ZoneInfo(get_settings().clinic_timezone)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=span - 1)
    days = Counter(s[2].astimezone(tz).date() for s in sent if s[2] is not None)
    return [
        (first + timedelta(days=i), days.get(first + timedelta(days=i), 0)) for i in range(span)
    ]
