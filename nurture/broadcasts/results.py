"""What a broadcast achieved: emails by outcome, provider events, unsubscribes and bookings."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.broadcasts.models import Broadcast
from nurture.core import languages
from nurture.core.db import chunked
from nurture.enrollments.sequence_results import EVENT_COLUMNS, booked_after
from nurture.leads.models import Lead
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Stream

# Outbox states shown, in the order a reader follows them.
STATES = (
    MessageStatus.PENDING,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.UNKNOWN,
    MessageStatus.FAILED,
    MessageStatus.SUPPRESSED,
    MessageStatus.CANCELLED,
    MessageStatus.SKIPPED,
)
# After sending: provider events, our own unsubscribe link, and bookings.
COLUMNS = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "booked")


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """Counts for one broadcast; `after` counts sent emails (each at most once per column)."""

    planned: int
    excluded: int
    states: Counter[str]
    after: Counter[str]
    days: int
    # The same counts for each language the emails were written in ("sent" and COLUMNS).
    by_language: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Return how many emails went out."""
        return self.states[MessageStatus.SENT]

    def rate(self, column: str) -> str:
        """Return a column as a share of the emails sent."""
        return f"{100 * self.after[column] / self.sent:.1f}%" if self.sent else "\u2013"


def broadcast_results(
    session: Session, broadcast: Broadcast, *, booked_within_days: int
) -> BroadcastResult:
    """Count a broadcast's emails by state and what followed the ones sent.

    Unsubscribed counts a lead who left through our link after this email and before any
    other marketing email reached them, or through the provider's link in it. Booked counts
    a lead who booked within `booked_within_days` of it. Test sends are never counted.
    """
    states: Counter[str] = Counter(
        {
            str(status): int(n)
            for status, n in session.execute(
                select(Message.status, func.count())
                .where(Message.broadcast_id == broadcast.id)
                .group_by(Message.status)
            )
        }
    )
    sent: dict[int, tuple[int, datetime]] = {}
    written_in: dict[int, str] = {}
    for message_id, lead_id, at, language in session.execute(
        select(Message.id, Message.lead_id, Message.sent_at, Message.language).where(
            Message.broadcast_id == broadcast.id, Message.status == MessageStatus.SENT
        )
    ):
        if lead_id is not None and at is not None:
            sent[message_id] = (lead_id, at)
            # Sent before languages were recorded: in the default language.
            written_in[message_id] = language or languages.default()
    after: Counter[str] = Counter()
    counted: dict[str, set[int]] = defaultdict(set)
    if sent:
        wanted = {name: column for column, names in EVENT_COLUMNS.items() for name in names}
        for event_message, event in session.execute(
            select(DeliveryEvent.message_id, DeliveryEvent.event)
            .join(Message, Message.id == DeliveryEvent.message_id)
            .where(Message.broadcast_id == broadcast.id, DeliveryEvent.event.in_(wanted))
        ):
            if event_message is not None and event_message in sent:
                counted[wanted[event]].add(event_message)
        counted["unsubscribed"] |= _left(session, broadcast.id, sent)
        rows = [(mid, lead, at) for mid, (lead, at) in sent.items()]
        counted["booked"] = booked_after(session, rows, booked_within_days)
    for column in COLUMNS:
        after[column] = len(counted[column])
    by_language: dict[str, Counter[str]] = defaultdict(Counter)
    for language in written_in.values():
        by_language[language]["sent"] += 1
    for column in COLUMNS:
        for message_id in counted[column]:
            by_language[written_in[message_id]][column] += 1
    return BroadcastResult(
        planned=broadcast.planned_count,
        excluded=broadcast.excluded_count,
        states=states,
        after=after,
        days=booked_within_days,
        by_language=dict(sorted(by_language.items())),
    )


def _left(session: Session, broadcast_id: int, sent: dict[int, tuple[int, datetime]]) -> set[int]:
    """Emails after which the lead unsubscribed before any other marketing email was sent."""
    by_lead = {lead: (mid, at) for mid, (lead, at) in sent.items()}
    left: dict[int, datetime] = {}
    for chunk in chunked(sorted(by_lead)):
        for lead_id, at in session.execute(
            select(Lead.id, Lead.unsubscribed_at).where(
                Lead.id.in_(chunk), Lead.unsubscribed_at.is_not(None)
            )
        ):
            if lead_id in by_lead and at is not None and at >= by_lead[lead_id][1]:
                left[lead_id] = at
    hits = {by_lead[lead][0] for lead in left}
    for chunk in chunked(sorted(left)):
        others = session.execute(
            select(Message.lead_id, Message.sent_at).where(
                Message.lead_id.in_(chunk),
                Message.stream == Stream.MARKETING,
                Message.status == MessageStatus.SENT,
                Message.broadcast_id.is_distinct_from(broadcast_id),
            )
        )
        for other_lead, at in others:
            if other_lead is None or at is None:
                continue
            mid, ours = by_lead[other_lead]
            if ours < at <= left[other_lead]:
                hits.discard(mid)  # a later email was the last one they read before leaving
    return hits
