"""Tags on leads: add or take off one tag for many leads at once, and list the tags in use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nurture.core.db import chunked
from nurture.leads.models import LeadTag


def add(session: Session, *, lead_ids: Sequence[int], tag: str, now: datetime) -> int:
    """Put `tag` on every lead that lacks it; return how many got it."""
    added = 0
    for chunk in chunked(list(lead_ids)):
        have = set(
            session.scalars(
                select(LeadTag.lead_id).where(LeadTag.tag == tag, LeadTag.lead_id.in_(chunk))
            )
        )
        fresh = [LeadTag(lead_id=i, tag=tag, tagged_at=now) for i in chunk if i not in have]
        session.add_all(fresh)
        added += len(fresh)
    session.flush()
    return added


def remove(session: Session, *, lead_ids: Sequence[int], tag: str) -> int:
    """Take `tag` off every lead that has it; return how many had it."""
    removed = 0
    for chunk in chunked(list(lead_ids)):
        result = session.execute(
            delete(LeadTag).where(LeadTag.tag == tag, LeadTag.lead_id.in_(chunk))
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def of_lead(session: Session, lead_id: int) -> list[str]:
    """Return a lead's tags, sorted."""
    return list(
        session.scalars(select(LeadTag.tag).where(LeadTag.lead_id == lead_id).order_by(LeadTag.tag))
    )


def in_use(session: Session) -> list[tuple[str, int]]:
    """Return every tag in use with how many leads carry it, most used first."""
    rows = session.execute(
        select(LeadTag.tag, func.count())
        .group_by(LeadTag.tag)
        .order_by(func.count().desc(), LeadTag.tag)
    )
    return [(tag, int(count)) for tag, count in rows]
