"""Studio overrides of the clinic's details: one row per field an admin has changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.core import clock
from nurture.core.db import Base, UTCDateTime


class ClinicSetting(Base):
    """One clinic detail set in the studio; its absence means the environment's value applies."""

    __tablename__ = "clinic_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
