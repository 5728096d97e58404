"""A lead's history in one list (for staff), and everything stored about a lead (for export)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment
from nurture.delivery.models import DeliveryEvent, Message
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from nurture.sequences.models import Sequence


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened to a lead."""

    at: datetime
    kind: str  # consent, lead, email, event, enrollment, appointment
    summary: str
    status: str = ""
    message_id: int | None = None


def _rows(session: Session, lead: Lead) -> dict[str, list[Any]]:
    messages = list(
        session.scalars(select(Message).where(Message.lead_id == lead.id).order_by(Message.id))
    )
    ids = [m.id for m in messages]
    return {
        "messages": messages,
        "events": list(
            session.scalars(
                select(DeliveryEvent)
                .where(DeliveryEvent.message_id.in_(ids))
                .order_by(DeliveryEvent.occurred_at)
            )
        )
        if ids
        else [],
        "enrollments": [
            (enrollment, name)
            for enrollment, name in session.execute(
                select(Enrollment, Sequence.name)
                .join(Sequence, Sequence.id == Enrollment.sequence_id)
                .where(Enrollment.lead_id == lead.id)
                .order_by(Enrollment.id)
            )
        ],
        "appointments": list(
            session.scalars(
                select(Appointment)
                .where(Appointment.lead_id == lead.id)
                .order_by(Appointment.starts_at)
            )
        ),
    }


def timeline(session: Session, lead: Lead) -> list[Entry]:
    """Consent, confirmation, emails, provider events, enrollments and visits, newest first."""
    rows = _rows(session, lead)
    entries = [Entry(lead.created_at, "lead", f"Signed up as {lead.numbness_type}")]
    for consent in lead.consents:
        entries.append(
            Entry(
                consent.given_at,
                "consent",
                f"Consent given ({consent.text_version}) on {consent.source}",
            )
        )
        if consent.withdrawn_at:
            entries.append(Entry(consent.withdrawn_at, "consent", "Consent withdrawn"))
    if lead.confirmed_at:
        entries.append(Entry(lead.confirmed_at, "lead", "Confirmed their address"))
    if lead.unsubscribed_at:
        entries.append(Entry(lead.unsubscribed_at, "lead", "Unsubscribed"))
    for m in rows["messages"]:
        entries.append(
            Entry(
                m.sent_at or m.due_at,
                "email",
                m.subject or m.template or f"step {m.step_id}",
                m.status,
                m.id,
            )
        )
    for e in rows["events"]:
        entries.append(Entry(e.occurred_at, "event", f"Provider: {e.event}", "", e.message_id))
    for enrollment, name in rows["enrollments"]:
        entries.append(Entry(enrollment.enrolled_at, "enrollment", f"Started {name}"))
        if enrollment.ended_at:
            why = enrollment.exit_reason or enrollment.status
            entries.append(Entry(enrollment.ended_at, "enrollment", f"Left {name}: {why}"))
    for a in rows["appointments"]:
        entries.append(
            Entry(
                a.created_at,
                "appointment",
                f"Visit booked for {a.starts_at:%Y-%m-%d %H:%M} UTC",
                a.status,
            )
        )
    return sorted(entries, key=lambda e: e.at, reverse=True)


def export(session: Session, lead: Lead) -> dict[str, Any]:
    """Everything stored about a lead, for a copy of their data."""
    rows = _rows(session, lead)

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "lead": {
            "email": lead.email,
            "first_name": lead.first_name,
            "numbness_type": lead.numbness_type,
            "timezone": lead.timezone,
            "status": lead.status,
            "created_at": when(lead.created_at),
            "confirmed_at": when(lead.confirmed_at),
            "unsubscribed_at": when(lead.unsubscribed_at),
            "paused_until": when(lead.paused_until),
        },
        "consents": [
            {
                "text_version": c.text_version,
                "text": c.text,
                "source": c.source,
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
                "given_at": when(c.given_at),
                "confirmed_at": when(c.confirmed_at),
                "withdrawn_at": when(c.withdrawn_at),
            }
            for c in lead.consents
        ],
        "emails": [
            {
                "subject": m.subject,
                "status": m.status,
                "due_at": when(m.due_at),
                "sent_at": when(m.sent_at),
            }
            for m in rows["messages"]
        ],
        "events": [{"event": e.event, "at": when(e.occurred_at)} for e in rows["events"]],
        "enrollments": [
            {
                "sequence": name,
                "status": en.status,
                "enrolled_at": when(en.enrolled_at),
                "ended_at": when(en.ended_at),
                "exit_reason": en.exit_reason,
            }
            for en, name in rows["enrollments"]
        ],
        "appointments": [
            {
                "starts_at": when(a.starts_at),
                "timezone": a.timezone,
                "status": a.status,
                "location": a.location,
            }
            for a in rows["appointments"]
        ],
    }
