"""Text messages of a visit: the send-time checks beside email's, quiet hours, the body.

A text goes only to a number with SMS consent that has not replied STOP (or been refused by
its carrier), for the visit as it stands, and only between 8:00 and 21:00 where the patient is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.clinic.models import ClinicSetting
from nurture.core import languages
from nurture.core.config import get_settings
from nurture.delivery.channels.base import OutgoingText
from nurture.delivery.facts import Facts, Hold, check_appointment
from nurture.delivery.language import reader_language
from nurture.delivery.staff_texts import STAFF_REPLY
from nurture.delivery.text_stops import HELD_BACK
from nurture.leads import consent
from nurture.messages.contexts import appointment_context, clinic_context
from nurture.outbox.models import Channel, Message, MessageStatus, SmsSuppression
from nurture.rendering.environment import get_renderer, language_context

# Texts reach a phone at once: only in the day of the patient's time zone.
TEXT_FROM_HOUR = 8
TEXT_UNTIL_HOUR = 21
OPT_OUT = "Reply STOP to opt out."
# The opt-out line in each language the texts are written in; STOP is the word carriers know.
OPT_OUTS = {"es": "Responda STOP para no recibir más mensajes."}
STATUS_PATH = "/webhooks/twilio/status"


SOURCE_KEY = "text:"


def studio_sources(session: Session) -> dict[str, str]:
    """Return the texts' wording staff changed in the studio, by template name."""
    rows = session.scalars(select(ClinicSetting).where(ClinicSetting.key.startswith(SOURCE_KEY)))
    return {
        row.key.removeprefix(SOURCE_KEY): str(row.value)
        for row in rows
        if isinstance(row.value, str)
    }


def render_text(
    name: str, context: dict[str, object], sources: dict[str, str], language: str | None = None
) -> str:
    """Render text `name`: the studio's wording if staff changed it, else the shipped file.

    In `language` (not the default) when there is wording for it, the studio's
    (`<language>/<name>`) or a shipped `<language>/texts/<name>.txt`; else the default's.
    """
    if language is not None and text_language(name, sources, language) is not None:
        own = sources.get(f"{language}/{name}")
        if own is None:
            return get_renderer().render_text(name, dict(context), language)
        localized = {**context, **language_context(language)}
        return get_renderer().render_text_source(own, localized)
    source = sources.get(name)
    if source is None:
        return get_renderer().render_text(name, dict(context))
    return get_renderer().render_text_source(source, dict(context))


def text_language(name: str, sources: dict[str, str], language: str | None) -> str | None:
    """Return `language` if text `name` has wording in it, else None (the default's is used)."""
    if language is None:
        return None
    if f"{language}/{name}" in sources:
        return language
    return get_renderer().localized(f"texts/{name}.txt", language)[1]


def next_text_time(now: datetime, tz: ZoneInfo) -> datetime | None:
    """Return when a text may go out: None if now, else the next 8:00 where the patient is."""
    local = now.astimezone(tz)
    if TEXT_FROM_HOUR <= local.hour < TEXT_UNTIL_HOUR:
        return None
    day = local.date() if local.hour < TEXT_FROM_HOUR else local.date() + timedelta(days=1)
    return datetime.combine(day, time(TEXT_FROM_HOUR), tzinfo=tz)


def quiet_hours_hold(
    message: Message, *, starts_at: datetime, tz: ZoneInfo, now: datetime
) -> tuple[MessageStatus, str, datetime | None] | None:
    """Hold a text outside 8:00-21:00 until morning, or drop it if that is after the visit."""
    until = next_text_time(now, tz)
    if until is None:
        return None
    if message.context.get("kind") != "cancellation" and until >= starts_at:
        return (
            MessageStatus.SKIPPED,
            "texts go between 8:00 and 21:00; the next morning is after the visit",
            None,
        )
    return (MessageStatus.PENDING, "texts go between 8:00 and 21:00; moved to the morning", until)


def status_callback(message_id: int) -> str | None:
    """Return the address Twilio reports this text's status to (it names the outbox row)."""
    base = get_settings().resolved_base_url
    return f"{base}{STATUS_PATH}?m={message_id}"


def finish(
    message: Message, body: str, *, first: bool, language: str | None = None
) -> OutgoingText:
    """Return the text to send, with the opt-out line on the first text to the number."""
    if first and "STOP" not in body:
        opt_out = OPT_OUTS.get((language or "").split("-")[0], OPT_OUT)
        body = f"{body} {opt_out}"
    return OutgoingText(
        to_phone=message.to_phone or "",
        body=body,
        message_id=message.id,
        status_callback=status_callback(message.id),
    )


def is_text(message: Message) -> bool:
    """Tell whether an outbox row is a text message."""
    return message.channel == Channel.SMS


def gather_texts(session: Session, facts: Facts, messages: Sequence[Message]) -> None:
    """Load what the checks of a batch's texts need: three queries, only if it has texts."""
    phones = {m.to_phone for m in messages if m.channel == Channel.SMS and m.to_phone}
    if not phones:
        return
    listed = session.execute(
        select(SmsSuppression.phone, SmsSuppression.reason).where(SmsSuppression.phone.in_(phones))
    )
    facts.sms_suppressed = {row[0]: row[1] for row in listed}
    facts.sms_consent = consent.sms_consented(
        session, lead_ids={m.lead_id for m in messages if m.lead_id is not None}
    )
    batch = {m.id for m in messages}
    texted = session.scalars(
        select(Message.to_phone).where(
            Message.to_phone.in_(phones),
            Message.channel == Channel.SMS,
            Message.id.not_in(batch),
            Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN]),
        )
    )
    facts.texted = {phone for phone in texted if phone is not None}
    facts.text_sources = studio_sources(session)


def check_text(message: Message, facts: Facts, now: datetime) -> Hold | None:
    """A text needs a number, SMS consent, no STOP, the visit as it stands, and daytime."""
    phone = message.to_phone
    if phone is None or message.lead_id is None:
        return Hold(MessageStatus.CANCELLED, "the text has no number or person any more")
    reason = facts.sms_suppressed.get(phone)
    if reason is not None:
        return Hold(MessageStatus.SUPPRESSED, f"{HELD_BACK} ({reason})")
    if message.lead_id not in facts.sms_consent:
        return Hold(MessageStatus.CANCELLED, "no SMS consent")
    if not get_settings().texts_enabled:
        return Hold(
            MessageStatus.CANCELLED,
            "texts are switched off (NURTURE_REMINDER_CHANNELS, or no Twilio in production)",
        )
    if message.template == STAFF_REPLY:
        return _answer_hold(message, now)
    if message.appointment_id is None:
        return Hold(MessageStatus.CANCELLED, "texts are only about visits")
    hold = check_appointment(message, facts, now)
    if hold is not None:
        return hold
    appointment = facts.appointments[message.appointment_id]
    quiet = quiet_hours_hold(
        message, starts_at=appointment.starts_at, tz=ZoneInfo(appointment.timezone), now=now
    )
    if quiet is not None:
        status, why_not, until = quiet
        return Hold(status, why_not, until=until)
    return None


def _answer_hold(message: Message, now: datetime) -> Hold | None:
    """Staff's answer waits for the morning at night where the patient is; it is never dropped."""
    zone = message.lead.timezone if message.lead is not None else None
    try:
        tz = ZoneInfo(zone or get_settings().clinic_timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo(get_settings().clinic_timezone)
    until = next_text_time(now, tz)
    if until is None:
        return None
    return Hold(
        MessageStatus.PENDING, "texts go between 8:00 and 21:00; moved to the morning", until
    )


def compose_text(message: Message, facts: Facts) -> OutgoingText:
    """Render a visit's text from `templates/texts/<template>.txt` (staff's answer as written)."""
    if message.template == STAFF_REPLY:
        phone = message.to_phone or ""
        first = phone not in facts.texted
        facts.texted.add(phone)
        return finish(message, str(message.context.get("body", "")), first=first)
    context = {**clinic_context(), **message.context}
    appointment = facts.appointments.get(message.appointment_id or 0)
    if appointment is not None:
        context.update(appointment_context(appointment))
    name = message.template or ""
    language = text_language(name, facts.text_sources, reader_language(message.lead))
    body = render_text(name, context, facts.text_sources, language)
    phone = message.to_phone or ""
    first = phone not in facts.texted
    facts.texted.add(phone)
    message.language = language or languages.default()
    return finish(message, body, first=first, language=language)
