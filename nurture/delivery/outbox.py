"""The engine's side of the outbox: claim due rows, skip stale ones, reclaim abandoned ones.

Planning a row lives below the domains, in `nurture.outbox.plan`."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, Update, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter

from nurture.appointments.models import Appointment
from nurture.core.db import UTCDateTime
from nurture.outbox.models import Message, MessageStatus

# The template of "your visit is coming up" rows (see appointments.reminders.TEMPLATES).
REMINDER_TEMPLATE = "appointment_reminder"
# The "please tell us if you are coming" row, planned and made stale like a reminder.
NUDGE_TEMPLATE = "appointment_nudge"
REMINDER_TEMPLATES = (REMINDER_TEMPLATE, NUDGE_TEMPLATE)
VISIT_STARTED = "the visit has already started"
SUPERSEDED = "superseded by a later reminder that is also due"
# Constants rendered into the SQL text (see `superseded_reminder`).
_REMINDERS_INLINE: BindParameter[list[str]] = bindparam(
    "reminder_templates", list(REMINDER_TEMPLATES), expanding=True, literal_execute=True
)
_PENDING_INLINE: BindParameter[str] = bindparam(
    "pending", MessageStatus.PENDING.value, literal_execute=True
)


def in_flight(session: Session) -> int:
    """Count rows claimed and not yet settled."""
    return int(
        session.scalar(select(func.count()).where(Message.status == MessageStatus.SENDING)) or 0
    )


def visit_started(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Match rows about a visit whose start time has passed: nothing about it is news any more."""
    return Message.appointment_id.in_(select(Appointment.id).where(Appointment.starts_at <= now))


def superseded_reminder(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Match reminders for which a later reminder of the same visit and revision is due too.

    After an outage the 48 h and the 2 h reminder can both be overdue; only the latest one says
    something true, so it alone goes. Rows of one visit are ordered by due time (planning gives
    longer offsets earlier times, and plans them first for ties). The confirmation nudge counts
    as a reminder here: it carries the same time, place and answer links.
    """
    later = aliased(Message)
    return and_(
        # Inlined, not bound: the planner can then match ix_messages_due_reminders also in a
        # generic plan of a prepared statement.
        Message.template.in_(_REMINDERS_INLINE),
        exists().where(
            later.appointment_id == Message.appointment_id,
            # Each channel's latest reminder goes: a text never stands in for an email.
            later.channel == Message.channel,
            later.template.in_(REMINDER_TEMPLATES),
            later.context["revision"].as_integer() == Message.context["revision"].as_integer(),
            later.status != MessageStatus.CANCELLED,
            later.due_at <= now,
            or_(
                later.due_at > Message.due_at,
                and_(later.due_at == Message.due_at, later.id > Message.id),
            ),
        ),
    )


def skip_stale(session: Session, *, now: datetime) -> int:
    """Settle due rows that must never go (see `visit_started`, `superseded_reminder`).

    The worker checks the same rules again at send time, since a claimed row can wait in the
    queue while the visit starts; doing it here too keeps a backlog from filling the claims.
    """
    skipped = 0
    for statement in _skip_statements():
        result = session.execute(statement, {"now": now})
        skipped += int(result.rowcount)  # type: ignore[attr-defined]
    return skipped


@cache
def _skip_statements() -> tuple[Update, ...]:
    """skip_stale's UPDATEs, built once per process: only the time varies between ticks, and
    building the superseded-reminder expression cost more than running it on an idle outbox."""
    now = bindparam("now", type_=UTCDateTime())
    return tuple(
        update(Message)
        .where(Message.status == _PENDING_INLINE, Message.due_at <= now, condition)
        .values(status=MessageStatus.SKIPPED, last_error=reason)
        .execution_options(synchronize_session=False)
        for condition, reason in (
            (visit_started(now), VISIT_STARTED),
            (superseded_reminder(now), SUPERSEDED),
        )
    )


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[int]:
    """Mark up to `limit` due rows as `sending` and return their ids, oldest first.

    On PostgreSQL concurrent claimers skip each other's locked rows instead of waiting; SQLite
    has a single writer, so the one UPDATE statement is already atomic.
    """
    due = (
        select(Message.id)
        .where(Message.status == MessageStatus.PENDING, Message.due_at <= now)
        .order_by(Message.due_at, Message.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = session.execute(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(status=MessageStatus.SENDING, claimed_at=now, lease_expires_at=now + lease)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


def reclaim_expired(session: Session, *, now: datetime) -> tuple[int, int]:
    """Release rows whose worker died: unsent ones go back to pending, in-flight to unknown."""
    expired = and_(Message.status == MessageStatus.SENDING, Message.lease_expires_at < now)
    released = session.execute(
        update(Message)
        .where(expired, Message.attempt_started_at.is_(None))
        .values(status=MessageStatus.PENDING, claimed_at=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    unknown = session.execute(
        update(Message)
        .where(expired, Message.attempt_started_at.is_not(None))
        .values(
            status=MessageStatus.UNKNOWN,
            unknown_since=now,
            last_error="the worker stopped while sending; the provider may have it",
        )
        .execution_options(synchronize_session=False)
    )
    return int(released.rowcount), int(unknown.rowcount)  # type: ignore[attr-defined]
