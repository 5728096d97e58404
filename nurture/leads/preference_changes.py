"""What a subscribed lead changes about the mail it gets: the kind of numbness it reads
about, a pause, the language; each save sends one notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from nurture.core import languages
from nurture.enrollments import service as enrollments
from nurture.leads.models import Lead, LeadStatus, TypeSource
from nurture.leads.service import note_type, notify
from nurture.outbox.models import Message, MessageStatus, Stream
from nurture.rendering.dates import format_day


@dataclass(frozen=True, slots=True)
class PreferenceChanges:
    """What one save of the preferences page changed."""

    type_changed: bool = False
    paused_until: datetime | None = None
    resumed: bool = False

    def __bool__(self) -> bool:
        return self.type_changed or self.paused_until is not None or self.resumed


def update_preferences(
    session: Session,
    *,
    lead: Lead,
    now: datetime,
    numbness_type: str | None = None,
    pause_weeks: int | None = None,
    resume: bool = False,
) -> PreferenceChanges:
    """Apply what the lead asked for at once and send one notice for all of it.

    Only a subscribed lead has marketing email to shape: for anyone else nothing changes and
    nothing is sent.
    """
    if lead.status != LeadStatus.ACTIVE:
        return PreferenceChanges()
    lines: list[str] = []
    type_changed = numbness_type is not None and numbness_type != lead.numbness_type
    if type_changed:
        note_type(
            session,
            lead_id=lead.id,
            from_type=lead.numbness_type,
            to_type=str(numbness_type),
            source=TypeSource.PREFERENCES,
            now=now,
        )
        lead.numbness_type = str(numbness_type)
        enrollments.exit_active(
            session, lead_id=lead.id, reason="type_changed", at=now, keep_broadcasts=True
        )
        enrollments.enroll(
            session, lead=lead, now=now, skip_keys=enrollments.keys_sent(session, lead_id=lead.id)
        )
        lines.append("your emails now match the kind of numbness you picked")
    paused_until = None
    resumed = False
    if pause_weeks is not None:
        paused_until = lead.paused_until = now + timedelta(weeks=pause_weeks)
        lines.append(f"emails are paused until {format_day(paused_until, lead.timezone)}")
    elif resume and lead.paused_until is not None and lead.paused_until > now:
        # Emails held by the pause were moved to its end; bring exactly those back to now.
        session.execute(
            update(Message)
            .where(
                Message.lead_id == lead.id,
                Message.status == MessageStatus.PENDING,
                Message.stream == Stream.MARKETING,
                Message.due_at <= lead.paused_until,
            )
            .values(due_at=now)
        )
        lead.paused_until = None
        resumed = True
        lines.append("your emails carry on from today")
    if lines:
        # `change` in words for the English email; the facts for the other languages'.
        notify(
            session,
            lead=lead,
            template="preferences_changed",
            now=now,
            change="; ".join(lines),
            type_changed="yes" if type_changed else "",
            paused_until=paused_until.isoformat() if paused_until else "",
            resumed="yes" if resumed else "",
            timezone=lead.timezone or "",
        )
    return PreferenceChanges(type_changed, paused_until, resumed)


def pause(session: Session, *, lead: Lead, weeks: int, now: datetime) -> datetime:
    """Hold all marketing email for `weeks`; due emails wait and then carry on."""
    if lead.status != LeadStatus.ACTIVE:
        # Nothing is being sent; the pause still holds should the lead confirm again.
        lead.paused_until = now + timedelta(weeks=weeks)
        return lead.paused_until
    changes = update_preferences(session, lead=lead, now=now, pause_weeks=weeks)
    assert changes.paused_until is not None
    return changes.paused_until


def resume(session: Session, *, lead: Lead, now: datetime) -> bool:
    """End a pause now: held emails carry on from today; False if the lead was not paused."""
    if lead.paused_until is None or lead.paused_until <= now:
        return False
    if lead.status != LeadStatus.ACTIVE:
        lead.paused_until = None  # nothing was held; the pause simply ends
        return True
    return update_preferences(session, lead=lead, now=now, resume=True).resumed


def change_type(session: Session, *, lead: Lead, numbness_type: str, now: datetime) -> bool:
    """Move an active lead to the sequence for a new type, skipping what it already read."""
    return update_preferences(session, lead=lead, now=now, numbness_type=numbness_type).type_changed


def change_language(session: Session, *, lead: Lead, language: str) -> bool:
    """Set the language a lead reads (one of NURTURE_LANGUAGES); tell whether it changed."""
    chosen = languages.choose(language)
    if chosen == lead.language:
        return False
    lead.language = chosen
    return True
