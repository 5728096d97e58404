"""The consent trail: soft opt-in for patients, and the rows for export."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.core import csvsafe
from nurture.leads.models import ConsentRecord, Lead, LeadStatus

SOFT_OPT_IN_VERSION = "soft-opt-in-1"
SOFT_OPT_IN_TEXT = (
    "Existing patient: emails about the care they receive from the clinic, sent without a "
    "separate opt-in (soft opt-in, NURTURE_SOFT_OPT_IN_PATIENTS). Every email can unsubscribe."
)


def record_soft_opt_in(session: Session, *, lead: Lead, reason: str, now: datetime) -> None:
    """Make a patient who never opted in a marketing recipient by soft opt-in, on the record.

    Only a lead that never said anything about marketing qualifies: an unsubscribed or
    unconfirmed lead is left as it is.
    """
    if lead.status != LeadStatus.NO_CONSENT:
        return
    session.add(
        ConsentRecord(
            lead_id=lead.id,
            purpose="marketing_email",
            text_version=SOFT_OPT_IN_VERSION,
            text=SOFT_OPT_IN_TEXT,
            source=f"soft opt-in: existing patient ({reason})"[:500],
            given_at=now,
            confirmed_at=now,
        )
    )
    lead.status = LeadStatus.ACTIVE


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


SMS_PURPOSE = "sms_reminders"
SMS_VERSION = "sms-1"
SMS_TEXT = (
    "Text messages about my visits (confirmation, reminders, changes) to {phone}. "
    "Reply STOP to any of them to stop."
)


def record_sms_consent(
    session: Session, *, lead: Lead, phone: str, source: str, now: datetime
) -> ConsentRecord:
    """Record that `lead` agreed to texts about their visits at `phone` (its own ledger entry).

    A standing consent for the same number is kept rather than recorded twice.
    """
    standing = session.scalar(
        select(ConsentRecord).where(
            ConsentRecord.lead_id == lead.id,
            ConsentRecord.purpose == SMS_PURPOSE,
            ConsentRecord.withdrawn_at.is_(None),
            ConsentRecord.text == SMS_TEXT.format(phone=phone),
        )
    )
    if standing is not None:
        return standing
    record = ConsentRecord(
        lead_id=lead.id,
        purpose=SMS_PURPOSE,
        text_version=SMS_VERSION,
        text=SMS_TEXT.format(phone=phone),
        source=source[:500],
        given_at=now,
        confirmed_at=now,
    )
    session.add(record)
    session.flush()
    return record


def sms_consented(session: Session, *, lead_ids: set[int]) -> set[int]:
    """Return which of `lead_ids` have a standing SMS consent."""
    if not lead_ids:
        return set()
    found = session.scalars(
        select(ConsentRecord.lead_id).where(
            ConsentRecord.lead_id.in_(lead_ids),
            ConsentRecord.purpose == SMS_PURPOSE,
            ConsentRecord.withdrawn_at.is_(None),
        )
    )
    return {lead_id for lead_id in found if lead_id is not None}


def withdraw_sms_consent(session: Session, *, lead_id: int, now: datetime) -> int:
    """Mark the lead's standing SMS consent withdrawn (kept on the record); return how many."""
    standing = session.scalars(
        select(ConsentRecord).where(
            ConsentRecord.lead_id == lead_id,
            ConsentRecord.purpose == SMS_PURPOSE,
            ConsentRecord.withdrawn_at.is_(None),
        )
    ).all()
    for record in standing:
        record.withdrawn_at = now
    session.flush()
    return len(standing)
