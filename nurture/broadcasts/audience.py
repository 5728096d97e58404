"""Who a segment reaches right now: how many, who is left out and why, and a few examples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.broadcasts.planning import may_receive, suppressed
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.segments import Segment, conditions

SAMPLE_SIZE = 10


@dataclass(frozen=True, slots=True)
class Recipient:
    """One example recipient, shown with a masked address."""

    lead_id: int
    first_name: str
    masked_email: str
    numbness_type: str
    timezone: str | None
    signed_up: datetime


@dataclass(frozen=True, slots=True)
class Audience:
    """The segment's size now, those who may not get marketing mail, and a sample."""

    matching: int
    not_subscribed: int
    suppressed: int
    sample: list[Recipient]

    @property
    def eligible(self) -> int:
        """Return how many would get the email if it were planned now."""
        return self.matching - self.not_subscribed - self.suppressed


def mask(email: str) -> str:
    """Return an address with its local part hidden but its first letter: r•••@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}\u2022\u2022\u2022@{domain}"


def audience(session: Session, *, segment: Segment, sample_size: int = SAMPLE_SIZE) -> Audience:
    """Count the segment and who in it may get marketing mail; return the newest few of those."""
    where = conditions(segment)
    active = Lead.status == LeadStatus.ACTIVE
    counts = session.execute(
        select(
            func.count(),
            func.count().filter(~active),
            func.count().filter(active, suppressed()),
        )
        .select_from(Lead)
        .where(*where)
    ).one()
    rows = session.execute(
        select(
            Lead.id,
            Lead.first_name,
            Lead.email,
            Lead.numbness_type,
            Lead.timezone,
            Lead.created_at,
        )
        .where(*where, *may_receive())
        .order_by(Lead.id.desc())
        .limit(sample_size)
    ).all()
    sample = [
        Recipient(r.id, r.first_name, mask(r.email), r.numbness_type, r.timezone, r.created_at)
        for r in rows
    ]
    return Audience(int(counts[0]), int(counts[1]), int(counts[2]), sample)
