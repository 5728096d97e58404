"""A visit's number and SMS consent, changed after booking: plan or stop its texts to match.

Consent that arrives late plans the texts of the reminders still ahead (never one whose moment
has passed); consent taken back cancels every text not yet sent. A text already claimed is
checked again just before it goes (delivery.texts), so it honours the change too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.reminders import NUDGE, TEMPLATES, reminder_due
from nurture.core.config import get_settings
from nurture.core.phones import maybe_e164
from nurture.leads import consent
from nurture.leads.models import Lead
from nurture.outbox import plan as outbox
from nurture.outbox.models import Channel, Message, MessageStatus, Stream
from nurture.sequences.schedule import in_quiet_hours


def text_number(session: Session, appointment: Appointment) -> str | None:
    """Return the number a visit's texts go to, or None when it gets none.

    Texts need the channel switched on (and Twilio, in production), a valid number and the
    patient's SMS consent.
    """
    s = get_settings()
    if not s.texts_enabled:
        return None
    phone = maybe_e164(appointment.phone, country=s.clinic_country)
    if phone is None:
        return None
    if not consent.sms_consented(session, lead_ids={appointment.lead_id}):
        return None
    return phone


def plan_texts_ahead(session: Session, appointment: Appointment, now: datetime) -> int:
    """Plan the texts of the visit's reminders still ahead; return how many will go.

    Each text has the same unique key as if it had been planned with the booking, so planning
    again is a no-op. A text cancelled only because consent was missing (never tried) goes
    after all once consent is back.
    """
    phone = text_number(session, appointment)
    if phone is None or appointment.status != AppointmentStatus.BOOKED:
        return 0
    if appointment.starts_at <= now:
        return 0
    s = get_settings()
    tz = ZoneInfo(appointment.timezone)
    wanted = [("reminder", f"{h}h", h) for h in sorted(set(s.reminder_offsets_hours))]
    answered = appointment.confirmed_at is not None or appointment.change_requested_at is not None
    if s.confirm_nudge_hours and not answered:
        wanted.append((NUDGE, NUDGE, s.confirm_nudge_hours))
    planned = 0
    for kind, name, hours in wanted:
        due = reminder_due(appointment.starts_at, hours, tz)
        if due <= now or (kind == NUDGE and in_quiet_hours(due.astimezone(tz).hour)):
            continue  # its moment has passed (or the nudge would come at night)
        reminder = f"{name}@r{appointment.revision}"
        message = outbox.plan(
            session,
            key=f"appt:{appointment.id}:{reminder}:{Channel.SMS}",
            stream=Stream.TRANSACTIONAL,
            template=TEMPLATES[kind],
            due_at=due,
            lead_id=appointment.lead_id,
            appointment_id=appointment.id,
            reminder=reminder,
            context={"kind": kind, "revision": appointment.revision},
            channel=Channel.SMS,
            to_phone=phone,
        )
        if message.status == MessageStatus.CANCELLED and message.attempt_started_at is None:
            message.status, message.due_at = MessageStatus.PENDING, due
            message.to_phone, message.last_error = phone, None
        planned += message.status == MessageStatus.PENDING
    session.flush()
    return planned


def cancel_texts(
    session: Session, *, lead_id: int, reason: str, appointment_id: int | None = None
) -> None:
    """Cancel the patient's texts not sent yet (of one visit, if given); claimed rows are
    re-checked just before they go."""
    one_visit = () if appointment_id is None else (Message.appointment_id == appointment_id,)
    session.execute(
        update(Message)
        .where(
            *one_visit,
            Message.lead_id == lead_id,
            Message.channel == Channel.SMS,
            Message.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELLED, last_error=reason)
        .execution_options(synchronize_session="fetch")
    )


@dataclass(frozen=True, slots=True)
class Texting:
    """A visit's number and whether its patient agreed to texts, before or after a change."""

    phone: str | None
    sms_consent: bool

    def as_dict(self) -> dict[str, object]:
        """Return the values for the audit log."""
        return {"phone": self.phone, "sms_consent": self.sms_consent}


def follow_number(session: Session, appointment: Appointment, phone: str) -> None:
    """Give the visit a new number (E.164); its texts planned and not yet claimed follow it."""
    if phone == appointment.phone:
        return
    appointment.phone = phone
    if appointment.id is None:
        return  # not stored yet: it has no texts
    session.execute(
        update(Message)
        .where(
            Message.appointment_id == appointment.id,
            Message.channel == Channel.SMS,
            Message.status == MessageStatus.PENDING,
        )
        .values(to_phone=phone)
        .execution_options(synchronize_session="fetch")
    )


def texting_of(session: Session, appointment: Appointment) -> Texting:
    """Return the visit's number and its patient's SMS consent as they stand."""
    agreed = bool(consent.sms_consented(session, lead_ids={appointment.lead_id}))
    return Texting(appointment.phone, agreed)


def change_texting(
    session: Session,
    *,
    appointment: Appointment,
    phone: str | None,
    sms_consent: bool,
    source: str,
    now: datetime,
) -> tuple[Texting, Texting]:
    """Set the visit's number (E.164, or None) and its patient's SMS consent; return before/after.

    Texts planned and not yet claimed follow a new number. Consent needs a number.
    """
    if sms_consent and phone is None:
        raise ValueError("add a mobile number to send texts")
    before = texting_of(session, appointment)
    if phone != appointment.phone:
        appointment.updated_at = now
        if phone is None:
            appointment.phone = None
        else:
            follow_number(session, appointment, phone)
    lead = session.get(Lead, appointment.lead_id)
    if sms_consent and phone is not None and lead is not None:
        consent.record_sms_consent(session, lead=lead, phone=phone, source=source, now=now)
        plan_texts_ahead(session, appointment, now)
    elif not sms_consent and before.sms_consent:
        consent.withdraw_sms_consent(session, lead_id=appointment.lead_id, now=now)
        cancel_texts(session, lead_id=appointment.lead_id, reason="SMS consent taken back")
    if phone is None and before.phone is not None:
        cancel_texts(
            session,
            lead_id=appointment.lead_id,
            appointment_id=appointment.id,
            reason="the visit's number was removed",
        )
    session.flush()
    return before, texting_of(session, appointment)
