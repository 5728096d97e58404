"""Leads and the consent trail behind each one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.core import clock, languages
from nurture.core.db import Base, BigId, UTCDateTime


class NumbnessType(StrEnum):
    """The kind of leg numbness a lead picks on signup."""

    ACUTE = "acute"
    CHRONIC = "chronic"
    INTERMITTENT = "intermittent"
    UNSURE = "unsure"


class LeadStatus(StrEnum):
    """Where a lead stands with marketing mail."""

    PENDING = "pending"  # signed up, not yet confirmed (double opt-in)
    ACTIVE = "active"  # confirmed; may receive marketing mail
    UNSUBSCRIBED = "unsubscribed"
    NO_CONSENT = "no_consent"  # known (e.g. booked directly) but never opted in to marketing


class Lead(Base):
    """A person who signed up; the email is unique and stored normalised."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    numbness_type: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The clinic's site they prefer (nurture.locations); None: the default site.
    location_key: Mapped[str | None] = mapped_column(String(40), index=True)
    # What they read pages and messages in: one of NURTURE_LANGUAGES, as a BCP 47 tag ("es").
    language: Mapped[str] = mapped_column(String(35), default=languages.default)
    status: Mapped[str] = mapped_column(String(20), default=LeadStatus.PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped whenever a confirmation link should stop working (confirmed, resubscribe).
    token_version: Mapped[int] = mapped_column(default=0)

    consents: Mapped[list[ConsentRecord]] = relationship(back_populates="lead")


class ConsentRecord(Base):
    """What a lead agreed to, when, where and from which client; kept anonymised after deletion."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(30), default="marketing_email")
    text_version: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lead: Mapped[Lead | None] = relationship(back_populates="consents")


class TypeSource(StrEnum):
    """Where a lead's numbness type was set."""

    SIGNUP = "signup"  # the landing form (again, while unconfirmed: the latest form wins)
    IMPORT = "import"
    BOOKING = "booking"  # a visit booked for an address not known before
    PREFERENCES = "preferences"  # the lead's own preferences page


class TypeChange(Base):
    """The numbness type a lead started with (no `from_type`) and each later change.

    Kept from migration 0018 on: leads from before have no first row, and nothing is guessed.
    """

    __tablename__ = "lead_type_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_type: Mapped[str | None] = mapped_column(String(20))
    to_type: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class LeadTag(Base):
    """A word staff put on a lead ("spring-event", "vip") to find and reach them as a group."""

    __tablename__ = "lead_tags"
    __table_args__ = (Index("ix_lead_tags_tag", "tag"),)

    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
