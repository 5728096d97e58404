"""A broadcast: one email, one segment, one scheduled time; its recipients are outbox rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime


class BroadcastStatus(StrEnum):
    """Lifecycle: a draft is edited; scheduled waits for its time; sending has begun."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"  # recipients are being planned, or their emails are still due
    SENT = "sent"  # every recipient planned and every email settled
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A marketing email to the leads of a segment who may get marketing mail.

    Recipients are planned by the tick at `scheduled_at`, in batches of leads ordered by id
    (`planned_through` is the last lead id looked at), as outbox rows keyed by (broadcast,
    lead), each due when that lead's send window next opens in their own zone.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    body_markdown: Mapped[str] = mapped_column(Text)
    # The email in other languages: {"es": {"subject": ..., "preheader": ..., "markdown": ...}}.
    translations: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSON)
    # A leads.segments.Segment as segment_to_json wrote it.
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=BroadcastStatus.DRAFT, index=True)
    # Local hours [start, end) in each lead's zone, every day but the clinic's closures.
    window_start_hour: Mapped[int] = mapped_column(default=9)
    window_end_hour: Mapped[int] = mapped_column(default=19)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_through: Mapped[int] = mapped_column(BigId, default=0)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # planning finished
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Leads of the segment given an email, and those left out at planning (not subscribed to
    # marketing mail, or suppressed).
    planned_count: Mapped[int] = mapped_column(default=0)
    excluded_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
