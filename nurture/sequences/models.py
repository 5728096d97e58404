"""Sequences, their published versions and the steps of each version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture import clock
from nurture.db import Base, BigId, UTCDateTime


class StepKind(StrEnum):
    """What a step is for."""

    EDUCATION = "education"
    BOOKING_REMINDER = "booking_reminder"


class VersionState(StrEnum):
    """Lifecycle of a sequence version."""

    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class Sequence(Base):
    """A drip for one audience (a numbness type or a tag)."""

    __tablename__ = "sequences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    versions: Mapped[list[SequenceVersion]] = relationship(
        back_populates="sequence", order_by="SequenceVersion.number"
    )


class SequenceVersion(Base):
    """An immutable-once-published snapshot of a sequence's steps and send window."""

    __tablename__ = "sequence_versions"
    __table_args__ = (UniqueConstraint("sequence_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(20), default=VersionState.DRAFT)
    window_start_hour: Mapped[int] = mapped_column(default=9)
    window_end_hour: Mapped[int] = mapped_column(default=19)
    # ISO weekdays allowed, as digits: "12345" is Monday to Friday.
    window_weekdays: Mapped[str] = mapped_column(String(7), default="1234567")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sequence: Mapped[Sequence] = relationship(back_populates="versions")
    steps: Mapped[list[Step]] = relationship(
        back_populates="version", order_by="Step.position", cascade="all, delete-orphan"
    )


class Step(Base):
    """One email of a sequence version, sent `delay` after the previous one."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("version_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("sequence_versions.id", ondelete="CASCADE"))
    position: Mapped[int]
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(30), default=StepKind.EDUCATION)
    delay_days: Mapped[int] = mapped_column(default=0)
    delay_minutes: Mapped[int] = mapped_column(default=0)
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(String(60))

    version: Mapped[SequenceVersion] = relationship(back_populates="steps")
