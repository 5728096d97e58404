"""One row per site of the clinic; an empty field means the clinic's own value applies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nurture.core import clock
from nurture.core.db import Base, UTCDateTime


class Location(Base):
    """A site of the clinic: its address, phone, hours and pages as patients see them."""

    __tablename__ = "locations"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    opening_hours: Mapped[str] = mapped_column(Text, default="")
    # Days this site is closed (YYYY-MM-DD); an empty list means the clinic's closures.
    closures: Mapped[list[str]] = mapped_column(JSON, default=list)
    booking_url: Mapped[str] = mapped_column(String(500), default="")
    review_url: Mapped[str] = mapped_column(String(500), default="")
    map_url: Mapped[str] = mapped_column(String(500), default="")
    marketing_from_name: Mapped[str] = mapped_column(String(200), default="")
    transactional_from_name: Mapped[str] = mapped_column(String(200), default="")
    logo_url: Mapped[str] = mapped_column(String(500), default="")
    accent_color: Mapped[str] = mapped_column(String(7), default="")
    # Cal.com bookings land here when their event type (id or slug) or place text is listed.
    calcom_event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    calcom_places: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    def as_dict(self) -> dict[str, Any]:
        """Return the editable fields, for the audit log."""
        return {f: getattr(self, f) for f in EDITABLE}


EDITABLE = (
    "name",
    "address",
    "phone",
    "timezone",
    "opening_hours",
    "closures",
    "booking_url",
    "review_url",
    "map_url",
    "marketing_from_name",
    "transactional_from_name",
    "logo_url",
    "accent_color",
    "calcom_event_types",
    "calcom_places",
)
