"""A lead's history in one list, in words staff read (for the studio), and everything stored
about a lead (for export).

Emails are named by what they are ("Chronic numbness education · Email 2: 'Why nerves get
irritated'", "Reminder for the visit on Wed 2 Dec, 10:00"), never by ids, step keys or template
names; the type a lead signed up with and each change come from `lead_type_changes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment
from nurture.broadcasts.models import Broadcast
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import Lead, NumbnessType, TypeChange, TypeSource
from nurture.outbox.models import DeliveryEvent, Message
from nurture.sequences.models import Sequence, SequenceVersion, Step

# "Signed up as ..." and "Changed type from ... to ...".
SIGNED_UP_AS: dict[str, str] = {
    NumbnessType.ACUTE: "acute numbness",
    NumbnessType.CHRONIC: "chronic numbness",
    NumbnessType.INTERMITTENT: "intermittent numbness",
    NumbnessType.UNSURE: "not sure which kind of numbness",
}
CHANGED_BY: dict[str, str] = {
    TypeSource.PREFERENCES: " on their preferences page",
    TypeSource.SIGNUP: " by signing up again",
}
TRANSACTIONAL = {
    "confirm": "Email asking them to confirm their address",
    "goodbye": "Email confirming they unsubscribed",
    "preferences_changed": "Email confirming their new preferences",
}
# Appointment emails, by the kind the row was planned as; {when} is the visit's local time.
VISIT_EMAILS = {
    "confirmation": "Booking confirmation for the visit on {when}",
    "reminder": "Reminder for the visit on {when}",
    "nudge": "Request to confirm they will come to the visit on {when}",
    "update": "Notice that the visit moved to {when}",
    "cancellation": "Notice that the visit on {when} is cancelled",
}
PROVIDER_EVENTS = {
    "sms_queued": "Text queued at Twilio",
    "sms_accepted": "Text accepted by Twilio",
    "sms_sent": "Text handed to the carrier",
    "sms_delivered": "Text delivered",
    "sms_undelivered": "Text not delivered",
    "sms_failed": "Text failed",
    "processed": "Accepted by the email provider",
    "delivered": "Delivered",
    "open": "Opened",
    "machine_open": "Fetched by the mail app (not counted as opened)",
    "click": "Clicked a link in",
    "bounce": "Bounced",
    "blocked": "Refused by the receiving server (not the address)",
    "dropped": "Not sent by the email provider",
    "deferred": "Delivery delayed",
    "spamreport": "Marked as spam",
    "unsubscribe": "Unsubscribed through",
    "group_unsubscribe": "Unsubscribed through",
    "group_resubscribe": "Subscribed again through",
}
KIND_WORDS = {
    "lead": "Lead",
    "consent": "Consent",
    "email": "Email",
    "text": "Text",
    "event": "Email event",
    "text_event": "Text event",
    "enrollment": "Sequence",
    "appointment": "Visit",
}
EXIT_REASONS = {
    "staff": "removed by staff",
    "unsubscribed": "unsubscribed",
    "unsubscribe": "unsubscribed",
    "type_changed": "changed their kind of numbness",
    "booked": "booked a visit",
    "attended": "came to a visit",
    "bounce": "their address bounced",
    "complaint": "marked an email as spam",
    "invalid": "their address is not valid",
}


_EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}|\{%.*?%\}", re.S)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened to a lead."""

    at: datetime
    kind: str  # consent, lead, email, event, enrollment, appointment
    summary: str
    status: str = ""
    message_id: int | None = None

    @property
    def label(self) -> str:
        """What kind of thing this is, as a word for the 'What' column."""
        return KIND_WORDS.get(self.kind, self.kind)


def type_words(numbness_type: str) -> str:
    """Name a numbness type as a lead would ('chronic numbness')."""
    return SIGNED_UP_AS.get(numbness_type, numbness_type)


def visit_time(appointment: Appointment) -> str:
    """Say when a visit is, in its own zone: 'Wed 2 Dec, 10:00'."""
    local = appointment.starts_at.astimezone(ZoneInfo(appointment.timezone))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


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
        "types": list(
            session.scalars(
                select(TypeChange)
                .where(TypeChange.lead_id == lead.id)
                .order_by(TypeChange.changed_at, TypeChange.id)
            )
        ),
    }


class _Namer:
    """Names the emails of one lead, with the steps, visits and broadcasts they come from."""

    def __init__(
        self, session: Session, lead: Lead, messages: list[Message], visits: list[Appointment]
    ) -> None:
        self.first_name = lead.first_name
        step_ids = {m.step_id for m in messages if m.step_id is not None}
        self.steps = {
            step_id: (name, position, subject)
            for step_id, name, position, subject in session.execute(
                select(Step.id, Sequence.name, Step.position, Step.subject)
                .join(SequenceVersion, SequenceVersion.id == Step.version_id)
                .join(Sequence, Sequence.id == SequenceVersion.sequence_id)
                .where(Step.id.in_(step_ids))
            )
        }
        broadcast_ids = {m.broadcast_id for m in messages if m.broadcast_id is not None}
        self.broadcasts = dict(
            session.execute(
                select(Broadcast.id, Broadcast.name).where(Broadcast.id.in_(broadcast_ids))
            ).all()
        )
        self.visits = {a.id: a for a in visits}

    def __call__(self, m: Message) -> str:
        if m.step_id is not None and m.step_id in self.steps:
            sequence, position, step_subject = self.steps[m.step_id]
            variant = f" (variant {m.variant_key})" if m.variant_key else ""
            subject = m.subject or self._plain(step_subject)
            return f"{sequence} · Email {position}{variant}: '{subject}'"
        if m.broadcast_id is not None:
            name = self.broadcasts.get(m.broadcast_id, "a deleted broadcast")
            return f"Broadcast {name}" + (f": '{m.subject}'" if m.subject else "")
        visit = self.visits.get(m.appointment_id) if m.appointment_id is not None else None
        if visit is not None:
            return self._visit_email(m, visit)
        if m.template in TRANSACTIONAL:
            return TRANSACTIONAL[m.template]
        return f"Email '{m.subject}'" if m.subject else "An email"

    def _plain(self, subject: str) -> str:
        """A subject not yet sent, as the lead would read it: their name, '…' for the rest."""

        def value(match: re.Match[str]) -> str:
            if match.group(1) == "first_name" and self.first_name:
                return self.first_name
            return "…" if match.group(1) is not None else ""

        return _EXPRESSION.sub(value, subject)

    @staticmethod
    def _visit_email(m: Message, visit: Appointment) -> str:
        kind = str((m.context or {}).get("kind") or "")
        if kind not in VISIT_EMAILS:
            kind = (m.template or "").removeprefix("appointment_")
        words = VISIT_EMAILS.get(kind, "Email about the visit on {when}")
        text = words.format(when=visit_time(visit))
        hours = (m.reminder or "").split("@")[0]
        if kind == "reminder" and hours.endswith("h") and hours[:-1].isdigit():
            text += f" ({hours[:-1]} hours before)"
        if (m.context or {}).get("revision", visit.revision) != visit.revision:
            # Planned for the visit as it was before a change; the time shown is today's.
            text += ", planned before the visit changed"
        if m.channel == "sms":
            text = f"Text: {text[0].lower()}{text[1:]}"
        return text


def _type_entries(lead: Lead, changes: list[TypeChange]) -> list[Entry]:
    first = changes[0] if changes and changes[0].from_type is None else None
    if first is None:
        # Leads from before the history was kept: what they signed up with is not known.
        entries = [Entry(lead.created_at, "lead", "Signed up")]
    elif first.source == TypeSource.BOOKING:
        entries = [Entry(first.changed_at, "lead", "Added when a visit was booked for them")]
    elif first.source == TypeSource.IMPORT:
        entries = [Entry(first.changed_at, "lead", f"Imported as {type_words(first.to_type)}")]
    else:
        entries = [Entry(first.changed_at, "lead", f"Signed up as {type_words(first.to_type)}")]
    for change in changes:
        if change.from_type is None:
            continue
        by = CHANGED_BY.get(change.source, "")
        entries.append(
            Entry(
                change.changed_at,
                "lead",
                f"Changed type from {change.from_type} to {change.to_type}{by}",
            )
        )
    return entries


def _consent(source: str, version: str) -> str:
    if version.startswith("sms-"):
        return f"Agreed to texts about visits ({source})"
    if version == "imported":
        return f"Consent imported from {source}"
    if source.startswith("soft opt-in"):
        return f"Consent recorded as a {source}"
    return f"Consent given on {source} (wording {version})"


def timeline(session: Session, lead: Lead) -> list[Entry]:
    """Signup and type changes, consent, emails, provider events, sequences and visits, newest
    first."""
    rows = _rows(session, lead)
    entries = _type_entries(lead, rows["types"])
    for consent in lead.consents:
        entries.append(
            Entry(consent.given_at, "consent", _consent(consent.source, consent.text_version))
        )
        if consent.withdrawn_at:
            entries.append(Entry(consent.withdrawn_at, "consent", "Consent withdrawn"))
    if lead.confirmed_at:
        entries.append(Entry(lead.confirmed_at, "lead", "Confirmed their address"))
    if lead.unsubscribed_at:
        entries.append(Entry(lead.unsubscribed_at, "lead", "Unsubscribed"))
    name = _Namer(session, lead, rows["messages"], rows["appointments"])
    names = {m.id: name(m) for m in rows["messages"]}
    for m in rows["messages"]:
        kind = "text" if m.channel == "sms" else "email"
        entries.append(Entry(m.sent_at or m.due_at, kind, names[m.id], m.status, m.id))
    for e in rows["events"]:
        what = PROVIDER_EVENTS.get(e.event, e.event.replace("_", " ").capitalize())
        kind = "event"
        if e.event.startswith("sms_"):
            kind = "text_event"
            code = (e.payload or {}).get("ErrorCode")
            what += f" (Twilio error {code})" if code else ""
        email = names.get(e.message_id, "an email") if e.message_id is not None else "an email"
        entries.append(Entry(e.occurred_at, kind, f"{what}: {email}", "", e.message_id))
    for enrollment, sequence in rows["enrollments"]:
        entries.append(Entry(enrollment.enrolled_at, "enrollment", f"Started {sequence}"))
        if enrollment.ended_at and enrollment.status == EnrollmentStatus.COMPLETED:
            summary = f"Finished {sequence}: every email sent"
            entries.append(Entry(enrollment.ended_at, "enrollment", summary))
        elif enrollment.ended_at:
            reason = enrollment.exit_reason or ""
            why = EXIT_REASONS.get(reason, reason.replace("_", " ") or "ended")
            entries.append(Entry(enrollment.ended_at, "enrollment", f"Left {sequence}: {why}"))
    for a in rows["appointments"]:
        entries.append(
            Entry(
                a.created_at,
                "appointment",
                f"Visit booked for {visit_time(a)} ({a.timezone})",
                a.status,
            )
        )
    # Newest first; of things at the same moment, the one that follows from the other first.
    ordered = sorted(enumerate(entries), key=lambda pair: (pair[1].at, pair[0]), reverse=True)
    return [entry for _, entry in ordered]


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
        "type_changes": [
            {
                "from": c.from_type,
                "to": c.to_type,
                "source": c.source,
                "at": when(c.changed_at),
            }
            for c in rows["types"]
        ],
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
