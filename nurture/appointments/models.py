"""Appointments booked by the clinic's systems or staff."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime


def new_calendar_uid() -> str:
    """Return a fresh, globally unique calendar UID (random, so it reveals nothing)."""
    return f"{uuid.uuid4()}@nurture"


class AppointmentStatus(StrEnum):
    """Lifecycle of an appointment."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Appointment(Base):
    """A visit; reminders are planned as outbox rows keyed by (appointment, reminder)."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(default=30)
    timezone: Mapped[str] = mapped_column(String(64))
    # The place as the booking system wrote it, when it names no site of the clinic.
    location: Mapped[str] = mapped_column(String(300), default="")
    # The clinic's site (nurture.locations); None: the default site.
    location_key: Mapped[str | None] = mapped_column(String(40), index=True)
    # The booker's phone when the booking system gave one (Cal.com's phone-only bookers).
    phone: Mapped[str | None] = mapped_column(String(40))
    # The recurring series the visit was booked in, so "cancel all remaining" finds the rest.
    series: Mapped[str | None] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(20), default=AppointmentStatus.BOOKED)
    # Raised on every change so calendar updates supersede earlier ones (RFC 5545 SEQUENCE).
    revision: Mapped[int] = mapped_column(default=0)
    # The calendar event's UID, fixed at booking: patients' calendars match every later update
    # and cancellation to it, so it must not depend on anything that can change (the base URL).
    calendar_uid: Mapped[str] = mapped_column(String(255), unique=True, default=new_calendar_uid)
    # When the booking system made the last change applied here (Cal.com's createdAt), so a
    # late or replayed older event never undoes a newer one.
    source_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The patient's answer to "will you come?" for the current time; a move clears both.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    change_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class AppointmentAlias(Base):
    """An external id a visit had before its booking system re-keyed it (a reschedule).

    Kept so a late event for the old id finds the visit instead of booking a second one.
    """

    __tablename__ = "appointment_aliases"

    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )


class CalcomRequest(Base):
    """A Cal.com reschedule waiting for the host: the booking that would replace a visit.

    The visit keeps its time and reminders until the host confirms (the new booking's
    BOOKING_CREATED moves it) or rejects (BOOKING_REJECTED: the row goes, nothing moves).
    """

    __tablename__ = "calcom_requests"

    # The visit key the new booking would have (`calcom.visit_key` of its uid).
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The key of the visit it would move, which may not have arrived yet.
    replaces: Mapped[str] = mapped_column(String(200))
    # Cal.com's createdAt of the request, so a replayed older one changes nothing.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalcomWaiting(Base):
    """One occurrence of a Cal.com recurring series waiting for the host's confirmation.

    Cal.com sends BOOKING_REQUESTED for every occurrence of a series that needs confirmation,
    but when the host confirms it sends one BOOKING_CREATED (for the occurrence confirmed) and
    accepts the others in silence. The requests wait here; that BOOKING_CREATED books every
    remembered occurrence of its series that has not started, and a rejection or a cancel
    forgets them.
    """

    __tablename__ = "calcom_waiting"

    # The visit key the occurrence will have (`calcom.visit_key` of its uid).
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # `calcom._series` of the request: event type and recurrence rule.
    series: Mapped[str] = mapped_column(String(120), index=True)
    # The booker's address (lower case): a series is one patient's.
    email: Mapped[str] = mapped_column(String(320))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Cal.com's createdAt of the request, so a replayed older one changes nothing.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The request's payload, booked as a BOOKING_CREATED once the host confirms.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
