"""The weekly cap on marketing email: past it, an email waits (moved, never dropped)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.broadcasts.planning import window_of as broadcast_window
from nurture.broadcasts.planning import zone_of as broadcast_zone
from nurture.core.config import get_settings
from nurture.delivery.compose import WEEK, Facts, Hold
from nurture.delivery.models import Message, MessageStatus, Stream
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
    enrollment = facts.enrollments.get(message.enrollment_id or 0)
    if enrollment is not None and message.lead is not None:
        tz = ZoneInfo(message.lead.timezone or get_settings().clinic_timezone)
        until = next_opening(until, tz=tz, window=window_of(enrollment.version))
    broadcast = facts.broadcasts.get(message.broadcast_id or 0)
    if broadcast is not None and message.lead is not None:
        until = next_opening(
            until, tz=broadcast_zone(message.lead.timezone), window=broadcast_window(broadcast)
        )
    return Hold(
        MessageStatus.PENDING,
        f"weekly cap: {limit} marketing emails in 7 days; moved, not dropped",
        until=until,
    )
