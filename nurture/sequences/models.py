"""Sequences, their published versions and the steps of each version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime

# The step condition "send when a review request is due" (checked at send time by compose).
REVIEW_DUE = "review_due"


class StepKind(StrEnum):
    """What a step is for."""

    EDUCATION = "education"
    BOOKING_REMINDER = "booking_reminder"


class Trigger(StrEnum):
    """The event that starts a sequence for a person."""

    SIGNUP = "signup"  # confirmed signup, matched by audience (the numbness type)
    BOOKED = "booked"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    CANCELLED_NOT_REBOOKED = "cancelled_not_rebooked"  # found by the tick's scan
    LAPSED = "lapsed"  # found by the tick's scan


class Goal(StrEnum):
    """An event that ends a sequence at once: it has done its job."""

    BOOKED = "booked"
    ATTENDED = "attended"


class Reentry(StrEnum):
    """Whether a person who has been through a sequence may start it again."""

    ALWAYS = "always"  # whenever not in it right now (the behaviour before triggers)
    NEVER = "never"
    AFTER = "after"  # once `reentry_after_days` have passed since the last start


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
    trigger: Mapped[str] = mapped_column(
        String(40), default=Trigger.SIGNUP, server_default="signup"
    )
    goals: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: [Goal.BOOKED.value], server_default=text("'[\"booked\"]'")
    )
    reentry: Mapped[str] = mapped_column(
        String(10), default=Reentry.ALWAYS, server_default="always"
    )
    reentry_after_days: Mapped[int | None]
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
    # Written in Markdown when set: body_html then holds the HTML template made from it.
    body_markdown: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(String(60))
    # Wait for this event (a Goal) at most `wait_at_most_days`: the step is due at the time-out
    # and skipped when the event comes first (see enrollments.service.wait_ended).
    wait_until: Mapped[str | None] = mapped_column(String(20))
    wait_at_most_days: Mapped[int | None]
    # The step in other languages, as its file writes them: {"es": {"subject": ..., ...}}
    # (nurture.sequences.translations). None when it has none.
    translations: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSON)

    version: Mapped[SequenceVersion] = relationship(back_populates="steps")
    # Every arm of an A/B test, the first one included: the step's own fields are the base each
    # variant overrides, and a step with variants sends only through one of them (2 to 4).
    variants: Mapped[list[StepVariant]] = relationship(
        back_populates="step", order_by="StepVariant.position", cascade="all, delete-orphan"
    )


class StepVariant(Base):
    """One arm of a step's test: the fields it sets override the step's for the people it gets."""

    __tablename__ = "step_variants"
    __table_args__ = (UniqueConstraint("step_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    position: Mapped[int]
    # None means "as the step": only the fields a variant sets differ from the step.
    subject: Mapped[str | None] = mapped_column(String(300))
    preheader: Mapped[str | None] = mapped_column(String(300))
    # Written in Markdown when set: body_html then holds the HTML template made from it.
    body_markdown: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    # The arm in other languages: over the step's translation in that language.
    translations: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSON)

    step: Mapped[Step] = relationship(back_populates="variants")
