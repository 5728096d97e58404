"""The consent trail as rows for export."""

from __future__ import annotations

from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture import csvsafe
from nurture.leads.models import ConsentRecord, Lead


def export_rows(session: Session) -> list[dict[str, Any]]:
    """Return every consent record with its lead's address (blank once the lead is erased)."""
    rows = session.execute(
        select(ConsentRecord, Lead.email)
        .outerjoin(Lead, Lead.id == ConsentRecord.lead_id)
        .order_by(ConsentRecord.id)
    )
    return [
        {
            "lead_id": record.lead_id or "",
            "email": email or "",
            "purpose": record.purpose,
            "text_version": record.text_version,
            "text": record.text,
            "source": record.source,
            "ip_address": record.ip_address or "",
            "user_agent": record.user_agent or "",
            "given_at": record.given_at.isoformat(),
            "confirmed_at": record.confirmed_at.isoformat() if record.confirmed_at else "",
            "withdrawn_at": record.withdrawn_at.isoformat() if record.withdrawn_at else "",
        }
        for record, email in rows
    ]


def write_csv(session: Session, fh: TextIO) -> int:
    """Write the consent trail as CSV to `fh`; return how many records."""
    rows = export_rows(session)
    fields = list(rows[0]) if rows else ["lead_id"]
    writer = csvsafe.writer(fh)
    writer.writerow(fields)
    writer.writerows([row[field] for field in fields] for row in rows)
    return len(rows)
