"""The weekly cap on marketing email: past it, an email waits (moved, never dropped); and the
send window a held or retried drip or broadcast email keeps."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.broadcasts.planning import window_of as broadcast_window
from nurture.broadcasts.planning import zone_of as broadcast_zone
from nurture.core.config import get_settings
from nurture.delivery.facts import WEEK, Facts, Hold
from nurture.outbox.models import Message, MessageStatus, Stream
from nurture.sequences.schedule import next_opening, window_of


def capped(message: Message, facts: Facts, now: datetime) -> Hold | None:
    """Hold a marketing email past the weekly cap until the oldest send leaves the 7 days.

    A row let through counts against the cap for the rest of the batch.
    """
    limit = get_settings().max_marketing_per_week
    if limit <= 0 or message.stream != Stream.MARKETING or message.lead_id is None:
        return None
    sent = sorted(facts.marketing_sent.setdefault(message.lead_id, []))
    if len(sent) < limit:
        sent.append(now)
        facts.marketing_sent[message.lead_id] = sent
        return None
    until = sent[len(sent) - limit] + WEEK
    return Hold(
        MessageStatus.PENDING,
        f"weekly cap: {limit} marketing emails in 7 days; moved, not dropped",
        until=within_window(message, facts, until),
    )


def within_window(message: Message, facts: Facts, moment: datetime) -> datetime:
    """Return the first instant from `moment` inside the send window of a drip or broadcast."""
    lead = message.lead
    if lead is None:
        return moment
    enrollment = facts.enrollments.get(message.enrollment_id or 0)
    if enrollment is not None:
        tz = ZoneInfo(lead.timezone or get_settings().clinic_timezone)
        window = window_of(enrollment.version, location_key=lead.location_key)
        return next_opening(moment, tz=tz, window=window)
    broadcast = facts.broadcasts.get(message.broadcast_id or 0)
    if broadcast is not None:
        zone = broadcast_zone(lead.timezone)
        window = broadcast_window(broadcast, location_key=lead.location_key)
        return next_opening(moment, tz=zone, window=window)
    return moment
