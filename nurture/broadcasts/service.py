"""Broadcast drafts: check and save them, schedule, cancel, copy and delete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nurture.broadcasts.audience import audience
from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.broadcasts.planning import segment_of
from nurture.core import dates
from nurture.leads.segments import Segment, parse_segment, segment_to_json
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences import checks
from nurture.sequences.files import tidy_lines
from nurture.sequences.models import Sequence

NAME_MAX = 200
TEXT_MAX = 300
# How far ahead a broadcast may be scheduled; further is almost certainly a typo.
MAX_AHEAD = timedelta(days=366)
CANCELLED_REASON = "the broadcast was cancelled"


class NotEditable(ValueError):
    """The broadcast is no longer a draft (or not in a state the action needs)."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing to fix, by form field, in words staff can act on."""

    field: str
    message: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class DraftFields:
    """A broadcast's editable fields, checked."""

    name: str
    subject: str
    preheader: str
    body_markdown: str
    segment: Segment
    window_start_hour: int
    window_end_hour: int


def _one(form: Mapping[str, str | list[str]], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value


def _hour(raw: str, field: str, label: str, low: int, high: int, issues: list[Issue]) -> int:
    try:
        hour = int(raw.strip())
    except ValueError:
        issues.append(Issue(field, f"{label}: enter a whole hour from {low} to {high}."))
        return low
    if not low <= hour <= high:
        issues.append(Issue(field, f"{label}: enter a whole hour from {low} to {high}."))
    return hour


def source_of(subject: str, preheader: str, body_markdown: str) -> checks.StepSource:
    """Return the broadcast's content as the step checks and renderer read it."""
    return checks.StepSource(subject, preheader, "", None, body_markdown)


def check_content(
    subject: str, preheader: str, body_markdown: str, *, location_key: str | None = None
) -> checks.Checked:
    """Run the step checks on a broadcast's content (template, privacy, links, size).

    The sample it is rendered for is of `location_key` (a broadcast to one location's people).
    """
    source = source_of(subject, preheader, body_markdown)
    return checks.check_step(source, location_key=location_key)


def _content_issues(checked: checks.Checked) -> list[Issue]:
    found = []
    for problem in checked.problems:
        if problem.field == "text":
            continue  # a broadcast's text part is always derived from its body
        field = "markdown" if problem.field in ("html", "markdown") else problem.field
        label = {"subject": "Subject", "preheader": "Preheader"}.get(field, "Body")
        where = f", line {problem.line}" if problem.line is not None else ""
        found.append(Issue(field, f"{label}{where}: {problem.message}", problem.severity))
    return found


def read_fields(
    session: Session, form: Mapping[str, str | list[str]]
) -> tuple[DraftFields | None, list[Issue], checks.Checked | None]:
    """Check a broadcast form; return the fields only when nothing blocks saving."""
    issues: list[Issue] = []
    name = " ".join(_one(form, "name").split())
    if not name:
        issues.append(Issue("name", "Name: give the broadcast a name staff will recognise."))
    elif len(name) > NAME_MAX:
        issues.append(Issue("name", f"Name: use at most {NAME_MAX} characters."))
    subject = tidy_lines(_one(form, "subject"))
    preheader = tidy_lines(_one(form, "preheader"))
    body = tidy_lines(_one(form, "markdown"), markdown=True)
    if not subject:
        issues.append(Issue("subject", "Subject: write a subject line."))
    for field, label, value in (
        ("subject", "Subject", subject),
        ("preheader", "Preheader", preheader),
    ):
        if len(value) > TEXT_MAX or "\n" in value:
            issues.append(Issue(field, f"{label}: one line of at most {TEXT_MAX} characters."))
    if not body.strip():
        issues.append(Issue("markdown", "Body: write the email."))
    start = _hour(
        _one(form, "window_start_hour") or "9", "window_start_hour", "Send from", 0, 23, issues
    )
    end = _hour(
        _one(form, "window_end_hour") or "19", "window_end_hour", "Send until", 1, 24, issues
    )
    if start >= end and not any(i.field.startswith("window") for i in issues):
        issues.append(Issue("window_end_hour", "Send until: must be later than 'send from'."))
    segment, segment_errors = parse_segment(form)
    issues += [Issue(field, message) for field, message in segment_errors.items()]
    slug = segment.sequence_slug
    if slug and session.scalar(select(Sequence.id).where(Sequence.slug == slug)) is None:
        issues.append(Issue("sequence", f"Sequence: there is no sequence called {slug}."))
    checked = check_content(subject, preheader, body) if subject and body.strip() else None
    if checked is not None:
        issues += _content_issues(checked)
    if any(i.severity == "error" for i in issues):
        return None, issues, checked
    fields = DraftFields(name, subject, preheader, body, segment, start, end)
    return fields, issues, checked


def fields_of(broadcast: Broadcast) -> dict[str, Any]:
    """Describe a broadcast's editable fields, as the audit log records them."""
    return {
        "name": broadcast.name,
        "subject": broadcast.subject,
        "preheader": broadcast.preheader,
        "markdown": broadcast.body_markdown,
        "segment": broadcast.segment,
        "window": [broadcast.window_start_hour, broadcast.window_end_hour],
    }


def _apply(broadcast: Broadcast, fields: DraftFields, now: datetime) -> None:
    broadcast.name = fields.name
    broadcast.subject = fields.subject
    broadcast.preheader = fields.preheader
    broadcast.body_markdown = fields.body_markdown
    broadcast.segment = segment_to_json(fields.segment)
    broadcast.window_start_hour = fields.window_start_hour
    broadcast.window_end_hour = fields.window_end_hour
    broadcast.updated_at = now


def create(
    session: Session, *, fields: DraftFields, created_by_id: int | None, now: datetime
) -> Broadcast:
    """Save a new draft broadcast."""
    broadcast = Broadcast(status=BroadcastStatus.DRAFT, created_by_id=created_by_id, created_at=now)
    _apply(broadcast, fields, now)
    session.add(broadcast)
    session.flush()
    return broadcast


def _draft(broadcast: Broadcast) -> None:
    if broadcast.status != BroadcastStatus.DRAFT:
        raise NotEditable(f"this broadcast is {broadcast.status}; only a draft can be changed")


def update_draft(
    session: Session, *, broadcast: Broadcast, fields: DraftFields, now: datetime
) -> None:
    """Change a draft's fields."""
    _draft(broadcast)
    _apply(broadcast, fields, now)


def parse_send_at(text: str, *, zone: ZoneInfo) -> datetime:
    """Read a local date and time (YYYY-MM-DDTHH:MM) in `zone`; raise ValueError in words."""
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("enter a date and time, for example 2026-12-01 09:00") from None
    dates.check_day(local.date())
    if local.tzinfo is not None:
        raise ValueError("enter the time without a zone: it is read in the clinic's zone")
    return local.replace(tzinfo=zone)


def schedule(session: Session, *, broadcast: Broadcast, at: datetime | None, now: datetime) -> None:
    """Schedule a draft for `at` (None: now, each person at their next window).

    Refuses content that no longer passes the checks, a time in the past or over a year
    ahead, and a segment in which no one may get marketing mail.
    """
    _draft(broadcast)
    checked = check_content(broadcast.subject, broadcast.preheader, broadcast.body_markdown)
    if checked.errors:
        raise ValueError(f"the email has problems to fix first: {checked.errors[0]}")
    if at is not None and at <= now:
        raise ValueError("pick a time in the future, or send now")
    if at is not None and at > now + MAX_AHEAD:
        raise ValueError("pick a time within the next year")
    if audience(session, segment=segment_of(broadcast), sample_size=0).eligible == 0:
        raise ValueError("no one in this segment may get marketing email; nothing would be sent")
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.scheduled_at = at or now
    broadcast.updated_at = now


def cancel(session: Session, *, broadcast: Broadcast, now: datetime) -> int:
    """Cancel a scheduled or sending broadcast; return how many unsent emails it stopped.

    Emails already handed to the provider have gone; one claimed by a worker is stopped by
    the send-time check, which reads the broadcast's status.
    """
    if broadcast.status not in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING):
        raise NotEditable(f"this broadcast is {broadcast.status}; there is nothing to cancel")
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.cancelled_at = broadcast.updated_at = now
    # The broadcast's row first: planning changes it before adding rows, so from here on no
    # batch can add a row this UPDATE would miss.
    session.flush()
    stopped = session.execute(
        update(Message)
        .where(Message.broadcast_id == broadcast.id, Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, last_error=CANCELLED_REASON)
        .execution_options(synchronize_session=False)
    )
    return int(stopped.rowcount)  # type: ignore[attr-defined]


def copy(
    session: Session, *, broadcast: Broadcast, created_by_id: int | None, now: datetime
) -> Broadcast:
    """Start a new draft with a broadcast's content and segment."""
    duplicate = Broadcast(
        name=f"Copy of {broadcast.name}"[:NAME_MAX],
        subject=broadcast.subject,
        preheader=broadcast.preheader,
        body_markdown=broadcast.body_markdown,
        segment=dict(broadcast.segment),
        window_start_hour=broadcast.window_start_hour,
        window_end_hour=broadcast.window_end_hour,
        status=BroadcastStatus.DRAFT,
        created_by_id=created_by_id,
        created_at=now,
        updated_at=now,
    )
    session.add(duplicate)
    session.flush()
    return duplicate


def delete_draft(session: Session, *, broadcast: Broadcast) -> None:
    """Delete a draft (it has no emails)."""
    _draft(broadcast)
    session.delete(broadcast)
