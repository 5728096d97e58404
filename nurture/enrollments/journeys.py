"""Find the people whose journey starts with an absence: a lapse, or a cancel not rebooked.

Events that happen (a booking, a visit, a no-show) start their sequences where they happen
(nurture.appointments.service). These two are the lack of an event, so the tick looks for them
(nurture.delivery.service.tick). Each query finds only people not yet started for the same
absence, so running it again, or from several ticks at once, starts nobody twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, func, select
from sqlalchemy.orm import Session, aliased

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core.config import get_settings
from nurture.enrollments.models import Enrollment
from nurture.enrollments.service import start_journeys, visited
from nurture.leads.models import Lead, LeadStatus
from nurture.sequences import service as sequences
from nurture.sequences.models import Reentry, SequenceVersion, Trigger

# A cancel older than this past its waiting time is not picked up: it predates the sequence
# (or the feature), and an offer to rebook that late would be a surprise.
CANCEL_LOOKBACK_DAYS = 14


def rebook_after() -> timedelta:
    """Return how long a cancel stays without a new booking before the rebook journey starts."""
    return timedelta(days=get_settings().rebook_after_days)


def recall_after() -> timedelta:
    """Return how long after the last visit, with nothing booked, the recall journey starts."""
    return timedelta(days=get_settings().recall_after_days)


def journey_start(trigger: str, event_at: datetime) -> tuple[datetime, datetime]:
    """Return when `trigger`'s journey starts for an event at `event_at`, and what its first
    email counts its delay from.

    A visit event starts its journey where it happens. An absence starts at the first scan
    after it has lasted long enough; a cancel keeps counting from the cancel itself.
    """
    # The scans compare stored UTC times: days are 24 hours, even across a clock change.
    event_at = event_at.astimezone(UTC)
    if trigger == Trigger.LAPSED:
        found = event_at + recall_after()
        return found, found
    if trigger == Trigger.CANCELLED_NOT_REBOOKED:
        # Counted from the cancel, so the first email keeps the delay the file gives it.
        return event_at + rebook_after(), event_at
    return event_at, event_at


def _statuses() -> list[str]:
    soft = get_settings().soft_opt_in_patients
    return [LeadStatus.ACTIVE, LeadStatus.NO_CONSENT] if soft else [LeadStatus.ACTIVE]


def _started_since(
    version: SequenceVersion,
    lead_id: SQLColumnExpression[int],
    moment: SQLColumnExpression[datetime],
    now: datetime,
) -> ColumnElement[bool]:
    """Whether the lead started `version`'s sequence since `moment`, or may not start again."""
    blocked = Enrollment.enrolled_at >= moment
    if version.reentry == Reentry.NEVER:
        blocked = Enrollment.enrolled_at.is_not(None)
    elif version.reentry == Reentry.AFTER and version.reentry_after_days is not None:
        cool = Enrollment.enrolled_at > now - timedelta(days=version.reentry_after_days)
        blocked = blocked | cool
    return exists().where(
        Enrollment.lead_id == lead_id,
        Enrollment.sequence_id == version.sequence_id,
        blocked,
    )


def scan(session: Session, *, now: datetime, limit: int = 200) -> int:
    """Start `lapsed` and `cancelled_not_rebooked` sequences for whoever is due; return how many."""
    return _lapsed(session, now, limit) + _cancelled(session, now, limit)


def _booked_ahead(lead_id: SQLColumnExpression[int], now: datetime) -> ColumnElement[bool]:
    ahead = aliased(Appointment)
    return exists().where(
        ahead.lead_id == lead_id,
        ahead.status == AppointmentStatus.BOOKED,
        ahead.starts_at > now,
    )


def _lapsed(session: Session, now: datetime, limit: int) -> int:
    """No visit for NURTURE_RECALL_AFTER_DAYS and nothing booked: once per lapse."""
    versions = sequences.live_for_trigger(session, Trigger.LAPSED)
    if not versions:
        return 0
    cutoff = now - recall_after()
    last = (
        select(Appointment.lead_id, func.max(Appointment.starts_at).label("visit"))
        .where(visited(now))
        .group_by(Appointment.lead_id)
        .subquery()
    )
    started = 0
    for version in versions:
        leads = session.scalars(
            select(Lead)
            .join(last, last.c.lead_id == Lead.id)
            .where(
                last.c.visit <= cutoff,
                Lead.status.in_(_statuses()),
                ~_booked_ahead(Lead.id, now),
                ~_started_since(version, Lead.id, last.c.visit, now),
            )
            .order_by(Lead.id)
            .limit(limit)
        ).all()
        for lead in leads:
            started += len(start_journeys(session, lead=lead, trigger=Trigger.LAPSED, now=now))
    return started


def _cancelled(session: Session, now: datetime, limit: int) -> int:
    """A cancel NURTURE_REBOOK_AFTER_DAYS ago with no booking since: once per cancel."""
    versions = sequences.live_for_trigger(session, Trigger.CANCELLED_NOT_REBOOKED)
    if not versions:
        return 0
    since = now - rebook_after()
    later = aliased(Appointment)
    rebooked = exists().where(
        later.lead_id == Appointment.lead_id,
        later.id != Appointment.id,
        later.created_at > Appointment.updated_at,
    )
    started = 0
    for version in versions:
        rows = session.execute(
            select(Lead, Appointment.updated_at)
            .join(Appointment, Appointment.lead_id == Lead.id)
            .where(
                Appointment.status == AppointmentStatus.CANCELLED,
                Appointment.updated_at <= since,
                Appointment.updated_at > since - timedelta(days=CANCEL_LOOKBACK_DAYS),
                Lead.status.in_(_statuses()),
                ~rebooked,
                ~_booked_ahead(Lead.id, now),
                ~_started_since(version, Lead.id, Appointment.updated_at, now),
            )
            .order_by(Appointment.updated_at, Appointment.id)
            .limit(limit)
        ).all()
        seen: set[int] = set()
        for lead, cancelled_at in rows:
            if lead.id in seen:
                continue
            seen.add(lead.id)
            _, start_at = journey_start(Trigger.CANCELLED_NOT_REBOOKED, cancelled_at)
            started += len(
                start_journeys(
                    session,
                    lead=lead,
                    trigger=Trigger.CANCELLED_NOT_REBOOKED,
                    now=now,
                    start_at=start_at,
                )
            )
    return started
