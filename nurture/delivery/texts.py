"""Text messages of a visit: the send-time checks beside email's, quiet hours, the body.

A text goes only to a number with SMS consent that has not replied STOP (or been refused by
its carrier), for the visit as it stands, and only between 8:00 and 21:00 where the patient is.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture.core.config import get_settings
from nurture.delivery.channels.base import OutgoingText
from nurture.delivery.models import Channel, Message, MessageStatus

# Texts reach a phone at once: only in the day of the patient's time zone.
TEXT_FROM_HOUR = 8
TEXT_UNTIL_HOUR = 21
OPT_OUT = "Reply STOP to opt out."
STATUS_PATH = "/webhooks/twilio/status"


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


def finish(message: Message, body: str, *, first: bool) -> OutgoingText:
    """Return the text to send, with the opt-out line on the first text to the number."""
    if first and "STOP" not in body:
        body = f"{body} {OPT_OUT}"
    return OutgoingText(
        to_phone=message.to_phone or "",
        body=body,
        message_id=message.id,
        status_callback=status_callback(message.id),
    )


def is_text(message: Message) -> bool:
    """Tell whether an outbox row is a text message."""
    return message.channel == Channel.SMS
