"""Forgetting leads: erasing one on request, purging signups that never confirmed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.outbox.models import DeliveryEvent, Message


def erase(session: Session, *, lead: Lead, now: datetime) -> None:
    """Delete a lead and its personal data; keep a suppression entry and an anonymous trail.

    The suppression entry is what guarantees the address is never mailed again; the consent
    records stay without lead, IP address or browser so the history of consent can be shown.
    """
    from nurture.appointments.models import CalcomWaiting
    from nurture.leads.suppressions import suppress
    from nurture.outbox.stops import EVERYTHING

    address = lead.email
    # Every email, not only marketing: an erased person asked to be forgotten.
    suppress(session, email=address, reason=EVERYTHING, source="erasure", now=now)
    for consent in lead.consents:
        consent.lead_id = None
        consent.ip_address = None
        consent.user_agent = None
        consent.withdrawn_at = consent.withdrawn_at or now
    message_ids = select(Message.id).where(Message.lead_id == lead.id)
    session.execute(
        delete(DeliveryEvent).where(
            DeliveryEvent.message_id.in_(message_ids)
            | (DeliveryEvent.payload["email"].as_string() == address)
        )
    )
    # Cal.com bookings still waiting for the host carry the address too (no lead row yet).
    session.execute(delete(CalcomWaiting).where(CalcomWaiting.email == address.lower()))
    session.delete(lead)
    session.flush()


def purge_unconfirmed(session: Session, *, now: datetime, days: int) -> int:
    """Delete leads that never confirmed within `days` (they never really consented)."""
    cutoff = now - timedelta(days=days)
    stale = list(
        session.scalars(
            select(Lead).where(Lead.status == LeadStatus.PENDING, Lead.created_at < cutoff)
        )
    )
    for lead in stale:
        session.execute(delete(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
        session.delete(lead)
    session.flush()
    return len(stale)
