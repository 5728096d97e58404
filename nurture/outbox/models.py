"""The outbox (one row per email), suppressions, provider events and heartbeats."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime

if TYPE_CHECKING:
    from nurture.leads.models import Lead


class MessageStatus(StrEnum):
    """Where an email stands; only `pending` rows are ever claimed."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the request may have reached the provider; never re-sent blindly


class Channel(StrEnum):
    """How a message reaches its person."""

    EMAIL = "email"
    SMS = "sms"


class Stream(StrEnum):
    """Marketing mail needs consent and unsubscribe headers; transactional mail does not."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


# Pending reminders and confirmation nudges (delivery.outbox.REMINDER_TEMPLATES), see below.
_DUE_REMINDERS = "status = 'pending' AND template IN ('appointment_reminder', 'appointment_nudge')"


class Message(Base):
    """One email to send at `due_at`; the unique keys make planning it twice a no-op."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id"),
        UniqueConstraint("appointment_id", "reminder", "channel"),
        UniqueConstraint("broadcast_id", "lead_id"),
        # Claiming reads the oldest due rows in (due_at, id) order straight from this index,
        # even when thousands share one due time (a broadcast, an import).
        Index("ix_messages_status_due_at_id", "status", "due_at", "id"),
        # reclaim_expired reads only rows in flight whose lease ran out.
        Index("ix_messages_status_lease_expires_at", "status", "lease_expires_at"),
        # Planning counts a step's messages per variant to keep the split even.
        Index("ix_messages_step_id_variant_key", "step_id", "variant_key"),
        # The tick's superseded-reminder check (delivery.outbox.skip_stale) reads pending
        # reminders only; with its constants inlined the planner can use this small index.
        Index(
            "ix_messages_due_reminders",
            "due_at",
            postgresql_where=text(_DUE_REMINDERS),
            sqlite_where=text(_DUE_REMINDERS),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(
        String(10), default=Channel.EMAIL, server_default=Channel.EMAIL.value
    )
    stream: Mapped[str] = mapped_column(String(20))
    template: Mapped[str | None] = mapped_column(String(80))
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE")
    )
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE")
    )
    reminder: Mapped[str | None] = mapped_column(String(40))
    # The broadcast this email is one copy of (one per lead, see the constraint above).
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    # The variant of the step (StepVariant.key) this email was planned with, chosen once in the
    # same insert as the row; None for steps without variants.
    variant_key: Mapped[str | None] = mapped_column(String(40))
    # The language the email was written in when it was composed (a tag of NURTURE_LANGUAGES):
    # the patient's when the message had that translation, else the clinic's default.
    language: Mapped[str | None] = mapped_column(String(20))
    to_email: Mapped[str | None] = mapped_column(String(320))
    # A text's number in E.164, fixed when the row is planned.
    to_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set (and committed) just before the provider is called: a row whose worker died after
    # this point may have been sent, so it becomes `unknown` instead of being sent again.
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a marketing email was let through the weekly cap: from then on it counts against
    # the cap for its lead, so a batch checked at the same time sees it (see delivery.service).
    cap_counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # When sending first failed for a passing reason (outage, timeout, 4xx); retries go on
    # until the email's retry window, counted from here, has run out. None once it settles.
    retrying_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(300))
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the outcome became unknown, and whether it was already sent again once for that.
    unknown_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resent_after_unknown: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    lead: Mapped[Lead | None] = relationship("Lead")


class MessageAttempt(Base):
    """One try at handing an email to the provider, and how it went."""

    __tablename__ = "message_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20))  # sent, retry, failed, unknown
    reason: Mapped[str | None] = mapped_column(String(40))  # e.g. rate_limited, server_error
    detail: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """An address that must never be mailed again (bounce, complaint, unsubscribe, staff)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class SmsSuppression(Base):
    """A number that must get no more texts (STOP, or the carrier says it cannot take them)."""

    __tablename__ = "sms_suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    reason: Mapped[str] = mapped_column(String(40))  # stop, 21610, 30003..30007
    source: Mapped[str] = mapped_column(String(40))  # reply, status, staff
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class TextReply(Base):
    """A text a patient sent the clinic's number, stored once per Twilio message SID."""

    __tablename__ = "text_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    # What the reply did: confirmed, reschedule, stop, start, help, or inbox (for staff).
    action: Mapped[str] = mapped_column(String(20))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryEvent(Base):
    """A provider event (delivered, bounce, open...), stored once per provider event id."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Heartbeat(Base):
    """When a periodic process (beat's tick) last ran, for health checks."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None]
