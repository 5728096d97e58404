"""What texts from patients and Twilio's status reports do: confirm, stop, resume, help, inbox.

Keywords follow Twilio's and the carriers' opt-out rules: STOP and its synonyms end every
further text to the number at once, START and UNSTOP resume, HELP names the clinic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.appointments import attendance
from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.clinic import service as clinic
from nurture.core.config import get_settings
from nurture.core.phones import maybe_e164
from nurture.delivery.text_stops import resume_number, suppress_number
from nurture.locations import service as locations
from nurture.messages import links
from nurture.outbox.models import (
    Channel,
    DeliveryEvent,
    Message,
    MessageStatus,
    TextReply,
)
from nurture.rendering.dates import format_visit_time

CONFIRM = frozenset({"C", "Y", "YES", "CONFIRM", "CONFIRMED"})
RESCHEDULE = frozenset({"R", "RESCHEDULE"})
# Twilio's own opt-out words include REVOKE and OPTOUT: it stops texting the number on them, so
# the clinic must too.
STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
# Carrier and Twilio codes that say a number cannot (or will not) take texts any more:
# 21610 unsubscribed, 30003 unreachable, 30004 blocked, 30005 unknown, 30006 landline or
# unreachable carrier, 30007 filtered as spam.
SUPPRESSING_CODES = frozenset({"21610", "30003", "30004", "30005", "30006", "30007"})
STATUSES = frozenset(
    {"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled"}
)
STOP_REASON = "stop"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a reply did, and the text to answer it with (None: no answer)."""

    action: str
    text: str | None


def keyword(body: str) -> str:
    """Return the reply as a keyword: its one word, upper case, without punctuation."""
    return body.strip().strip(".!?,;:\"'").upper()


def next_visit(session: Session, *, phone: str, now: datetime) -> Appointment | None:
    """Return the soonest booked visit ahead whose texts go to `phone`."""
    texted = select(Message.appointment_id).where(
        Message.channel == Channel.SMS, Message.to_phone == phone
    )
    return session.scalar(
        select(Appointment)
        .where(
            Appointment.id.in_(texted),
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
        .with_for_update()
    )


def handle_reply(
    session: Session, *, sid: str, phone_raw: str, body: str, now: datetime
) -> Answer | None:
    """Act on a patient's text once per Twilio message SID; None for one already handled.

    The SID is claimed first: Twilio sending the text again, or two requests for it at once,
    meet the unique key before anything is done, and the later one does nothing.
    """
    phone = maybe_e164(phone_raw, country=get_settings().clinic_country) or phone_raw[:20]
    reply = TextReply(
        provider_sid=sid, from_phone=phone, body=body[:1600], action="received", received_at=now
    )
    try:
        with session.begin_nested():
            session.add(reply)
    except IntegrityError:
        return None
    c = clinic.effective()
    word = keyword(body)
    visit: Appointment | None = None
    if word in STOP:
        first = suppress_number(session, phone=phone, reason=STOP_REASON, source="reply", now=now)
        # Carriers require one answer to an opt-out; a repeated STOP gets none.
        text = (
            f"{c.clinic_name}: you will get no more texts from us. Reply START to resume."
            if first
            else None
        )
        answer = Answer("stop", text)
    elif word in START:
        resume_number(session, phone=phone, now=now)
        answer = Answer(
            "start", f"{c.clinic_name}: texts about your visits are back on. Reply STOP to stop."
        )
    elif word in HELP:
        answer = Answer(
            "help",
            f"{c.clinic_name}: texts about your visits. Questions? Call {c.clinic_phone}. "
            "Reply STOP to stop.",
        )
    elif word in CONFIRM or word in RESCHEDULE:
        visit = next_visit(session, phone=phone, now=now)
        answer = _answer_visit(session, visit, confirm=word in CONFIRM, now=now)
    else:
        answer = Answer("inbox", None)
    reply.action = answer.action
    reply.appointment_id = visit.id if visit is not None else None
    reply.lead_id = visit.lead_id if visit is not None else _lead_of(session, phone)
    session.flush()
    return answer


def _lead_of(session: Session, phone: str) -> int | None:
    return session.scalar(
        select(Message.lead_id)
        .where(Message.channel == Channel.SMS, Message.to_phone == phone)
        .order_by(Message.id.desc())
        .limit(1)
    )


def _answer_visit(
    session: Session, visit: Appointment | None, *, confirm: bool, now: datetime
) -> Answer:
    """Confirm the visit (as the email's link does) or say how to change it."""
    c = clinic.effective()
    if visit is None:
        return Answer(
            "inbox",
            f"{c.clinic_name}: we found no visit ahead for this number. "
            f"Please call {c.clinic_phone}.",
        )
    when = format_visit_time(visit.starts_at, visit.timezone, short=True)
    attendance.record_answer(
        session, appointment=visit, revision=visit.revision, confirm=confirm, now=now
    )
    if confirm:
        return Answer("confirmed", f"{c.clinic_name}: thank you, see you {when}.")
    return Answer(
        "reschedule",
        f"{c.clinic_name}: to change your visit {when}, call "
        f"{locations.site(visit.location_key).phone} or go to "
        f"{links.visit_url(visit.id)}",
    )


def record_status(
    session: Session, *, form: dict[str, str], message_id: int | None, now: datetime
) -> str:
    """Record one status report of a text (once per SID and status); return what it did."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or status not in STATUSES:
        return "ignored"
    message = _message_for(session, sid=sid, message_id=message_id)
    code = form.get("ErrorCode") or None
    payload: dict[str, Any] = {
        k: form[k] for k in ("MessageSid", "MessageStatus", "ErrorCode", "To") if k in form
    }
    event = DeliveryEvent(
        provider_event_id=f"twilio:{sid}:{status}",
        message_id=message.id if message is not None else None,
        event=f"sms_{status}",
        occurred_at=now,
        received_at=now,
        processed_at=now,
        payload=payload,
    )
    # The report is claimed before it acts: the same report twice (a retry, or two at once)
    # meets the unique key, and the later one does nothing.
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return "duplicate"
    if message is not None:
        if message.status == MessageStatus.UNKNOWN:
            # Twilio has it: the text went out; it is never sent again.
            message.status = MessageStatus.SENT
            message.sent_at = message.sent_at or now
        message.provider_message_id = message.provider_message_id or sid
        if status in ("failed", "undelivered"):
            message.last_error = f"Twilio: {status}" + (f" (error {code})" if code else "")
    to = form.get("To") or (message.to_phone if message is not None else None)
    if code in SUPPRESSING_CODES and to:
        suppress_number(session, phone=to, reason=f"error {code}", source="status", now=now)
    session.flush()
    return status


def _message_for(session: Session, *, sid: str, message_id: int | None) -> Message | None:
    """Find the text a report is about: by the row named in its callback URL, else by SID."""
    if message_id is not None:
        message = session.get(Message, message_id)
        if (
            message is not None
            and message.channel == Channel.SMS
            and message.provider_message_id in (None, sid)
        ):
            return message
    return session.scalar(
        select(Message).where(Message.provider_message_id == sid, Message.channel == Channel.SMS)
    )
