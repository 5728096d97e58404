"""The audit log: every change staff make, with what it was before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.core import clock
from nurture.staff.models import AuditEntry, StaffUser

COMMAND_LINE = "command line"


def record(
    session: Session,
    *,
    staff: StaffUser | None,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Write one audit entry in the caller's transaction, so it lands with the change."""
    entry = AuditEntry(
        at=at or clock.now(),
        staff_id=staff.id if staff else None,
        actor=staff.email if staff else COMMAND_LINE,
        action=action,
        target=target[:200],
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def recent(session: Session, *, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
    """Return audit entries, newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
