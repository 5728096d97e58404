"""Enrollments: a lead's place in one sequence version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime
from nurture.leads.models import Lead
from nurture.sequences.models import SequenceVersion


class EnrollmentStatus(StrEnum):
    """Lifecycle of an enrollment."""

    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


class Enrollment(Base):
    """A lead moving through the steps of the version it started on."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("sequence_versions.id"))
    status: Mapped[str] = mapped_column(String(20), default=EnrollmentStatus.ACTIVE, index=True)
    # Position of the last step handed to delivery; 0 before the first.
    last_position: Mapped[int] = mapped_column(default=0)
    # Keys of steps the lead had read before this enrollment began (another sequence shares
    # them); the planner passes over these wherever they sit, without a query per email.
    skip_keys: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    exit_reason: Mapped[str | None] = mapped_column(String(40))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lead: Mapped[Lead] = relationship()
    version: Mapped[SequenceVersion] = relationship()
