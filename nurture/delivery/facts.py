"""What a batch of outbox rows needs read up front, and why a row must not be sent now.

Everything a batch needs (leads, enrollments, steps, suppressions, bookings) is read in a few
queries up front, so checking a batch costs no query per email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core.config import get_settings
from nurture.delivery import outbox
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import LeadStatus
from nurture.locations import service as locations
from nurture.messages.contexts import visited_site
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Stream, Suppression
from nurture.outbox.stops import stops, why
from nurture.sequences.models import REVIEW_DUE, Goal, SequenceVersion, Step
from nurture.sequences.schedule import in_quiet_hours

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Hold:
    """The row must not go out now: end it with `status`, or move it to `until`."""

    status: MessageStatus
    reason: str
    until: datetime | None = None
    goal: str | None = None  # the enrollment reached this goal: it ends with the row


@dataclass(slots=True)
class Facts:
    """What send-time checks need about a batch, loaded in a handful of queries."""

    suppressed: dict[str, str] = field(default_factory=dict)  # address -> reason
    enrollments: dict[int, Enrollment] = field(default_factory=dict)
    steps: dict[int, Step] = field(default_factory=dict)
    booked_leads: set[int] = field(default_factory=set)
    appointments: dict[int, Appointment] = field(default_factory=dict)
    clicked_steps: set[tuple[int, int]] = field(default_factory=set)  # (enrollment, position)
    superseded: set[int] = field(default_factory=set)  # reminders a later due one replaces
    # Per lead of a drip email: each visit as (created_at, updated_at, status), for goals
    # and waits; and when marketing mail went out in the last 7 days, for the weekly cap.
    visits: dict[int, list[tuple[datetime, datetime, str]]] = field(default_factory=dict)
    marketing_sent: dict[int, list[datetime]] = field(default_factory=dict)
    # For `review_due` steps: each lead's attended visits, and when a review request went to
    # them within the cool-down (from any sequence, or earlier in this batch).
    attended: dict[int, int] = field(default_factory=dict)
    reviews_asked: dict[int, list[datetime]] = field(default_factory=dict)
    broadcasts: dict[int, Broadcast] = field(default_factory=dict)
    # Texts: numbers that must get none (STOP, carrier refusals), leads with SMS consent, and
    # numbers that have had a text before (the first one carries the opt-out line).
    sms_suppressed: dict[str, str] = field(default_factory=dict)
    sms_consent: set[int] = field(default_factory=set)
    texted: set[str] = field(default_factory=set)
    text_sources: dict[str, str] = field(default_factory=dict)  # template -> studio's wording
    # Per lead of a drip or broadcast email: the site of their latest attended visit (None for
    # none), for the review page their emails link to.
    visited: dict[int, str | None] = field(default_factory=dict)


def gather(
    session: Session, messages: Sequence[Message], now: datetime, *, sending: bool = False
) -> Facts:
    """Load the facts for `messages` (their leads must already be loaded).

    `sending` adds what only the send-time checks need (goals, waits, the weekly cap).
    """
    facts = Facts()
    addresses = {m.to_email or (m.lead.email if m.lead else "") for m in messages} - {""}
    if addresses:
        listed = session.execute(
            select(Suppression.email, Suppression.reason).where(Suppression.email.in_(addresses))
        )
        facts.suppressed = {row[0]: row[1] for row in listed}
    enrollment_ids = {m.enrollment_id for m in messages if m.enrollment_id is not None}
    if enrollment_ids:
        rows = session.scalars(
            select(Enrollment)
            .where(Enrollment.id.in_(enrollment_ids))
            .options(
                selectinload(Enrollment.version)
                .selectinload(SequenceVersion.steps)
                .selectinload(Step.variants),
            )
        )
        facts.enrollments = {e.id: e for e in rows}
        facts.steps = {s.id: s for e in facts.enrollments.values() for s in e.version.steps}
    appointment_ids = {m.appointment_id for m in messages if m.appointment_id is not None}
    if appointment_ids:
        facts.appointments = {
            a.id: a
            for a in session.scalars(select(Appointment).where(Appointment.id.in_(appointment_ids)))
        }
        reminder_ids = [m.id for m in messages if m.template in outbox.REMINDER_TEMPLATES]
        if reminder_ids:
            facts.superseded = set(
                session.scalars(
                    select(Message.id).where(
                        Message.id.in_(reminder_ids), outbox.superseded_reminder(now)
                    )
                )
            )
    broadcast_ids = {m.broadcast_id for m in messages if m.broadcast_id is not None}
    if broadcast_ids:
        facts.broadcasts = {
            b.id: b
            for b in session.scalars(select(Broadcast).where(Broadcast.id.in_(broadcast_ids)))
        }
    conditions = {s.condition for s in facts.steps.values()}
    lead_ids = {m.lead_id for m in messages if m.lead_id is not None}
    if "not_booked" in conditions and lead_ids:
        facts.booked_leads = set(
            session.scalars(
                select(Appointment.lead_id).where(
                    Appointment.lead_id.in_(lead_ids),
                    Appointment.status == AppointmentStatus.BOOKED,
                    Appointment.starts_at > now,
                )
            )
        )
    if "clicked_previous" in conditions and enrollment_ids:
        clicked = session.execute(
            select(Message.enrollment_id, Step.position)
            .join(DeliveryEvent, DeliveryEvent.message_id == Message.id)
            .join(Step, Step.id == Message.step_id)
            .where(Message.enrollment_id.in_(enrollment_ids), DeliveryEvent.event == "click")
        )
        facts.clicked_steps = {(int(e or 0), int(p)) for e, p in clicked}
    marketing_leads = {
        m.lead_id
        for m in messages
        if (m.enrollment_id is not None or m.broadcast_id is not None) and m.lead_id is not None
    }
    if marketing_leads:
        _gather_visited(session, facts, marketing_leads)
    if REVIEW_DUE in conditions and lead_ids:
        _gather_reviews(session, facts, lead_ids, {m.id for m in messages}, now)
    if sending:
        # Broadcasts count against the weekly cap as drip emails do.
        _gather_journeys(session, facts, marketing_leads, now, batch={m.id for m in messages})
    return facts


def _gather_visited(session: Session, facts: Facts, lead_ids: set[int]) -> None:
    """Load the site of each lead's latest attended visit: one query for the batch."""
    facts.visited = dict.fromkeys(lead_ids)
    attended = session.execute(
        select(Appointment.lead_id, Appointment.location_key)
        .where(Appointment.lead_id.in_(lead_ids), Appointment.status == AppointmentStatus.ATTENDED)
        .order_by(Appointment.lead_id, Appointment.starts_at)
    )
    for lead_id, key in attended:  # the latest comes last
        facts.visited[lead_id] = key


def _gather_journeys(
    session: Session, facts: Facts, lead_ids: set[int], now: datetime, *, batch: set[int]
) -> None:
    """Load each drip lead's visits and recent marketing sends: two queries for the batch."""
    if not lead_ids:
        return
    visits = session.execute(
        select(
            Appointment.lead_id, Appointment.created_at, Appointment.updated_at, Appointment.status
        ).where(Appointment.lead_id.in_(lead_ids))
    )
    for lead_id, created, updated, status in visits:
        facts.visits.setdefault(lead_id, []).append((created, updated, status))
    if get_settings().max_marketing_per_week <= 0:
        return
    week = now - WEEK
    went = func.coalesce(
        Message.sent_at, Message.unknown_since, Message.attempt_started_at, Message.cap_counted_at
    )
    # Counted as gone: sent, unknown (it may have arrived), with its send under way, or let
    # through the cap by another batch (see delivery.service.lock_for_cap). The batch's own
    # rows are counted as the batch lets them through.
    sent = session.execute(
        select(Message.lead_id, went).where(
            Message.lead_id.in_(lead_ids),
            Message.id.not_in(batch),
            Message.stream == Stream.MARKETING,
            Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN, MessageStatus.SENDING]),
            went > week,
        )
    )
    for recipient, at in sent:
        if recipient is not None:
            facts.marketing_sent.setdefault(recipient, []).append(at)


def _gather_reviews(
    session: Session, facts: Facts, lead_ids: set[int], batch: set[int], now: datetime
) -> None:
    """Load attended visits and recent review requests per lead: two queries for the batch."""
    counts = session.execute(
        select(Appointment.lead_id, func.count())
        .where(Appointment.lead_id.in_(lead_ids), Appointment.status == AppointmentStatus.ATTENDED)
        .group_by(Appointment.lead_id)
    )
    facts.attended = {int(lead_id): int(n) for lead_id, n in counts}
    since = now - timedelta(days=get_settings().review_cooldown_days)
    went = func.coalesce(Message.sent_at, Message.unknown_since, Message.attempt_started_at)
    # Sent, of unknown outcome (it may have arrived) or under way elsewhere: each is an ask.
    # This batch's own rows are not, until check() lets one through.
    asked = session.execute(
        select(Message.lead_id, went)
        .join(Step, Step.id == Message.step_id)
        .where(
            Message.lead_id.in_(lead_ids),
            Message.id.not_in(batch),
            Step.condition == REVIEW_DUE,
            Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN, MessageStatus.SENDING]),
            went > since,
        )
    )
    for lead_id, at in asked:
        if lead_id is not None:
            facts.reviews_asked.setdefault(lead_id, []).append(at)


def _review_hold(lead_id: int, facts: Facts, now: datetime, *, review_url: str) -> Hold | None:
    """Skip a review request with no review page, too few visits, or one sent in the cool-down.

    Every patient who qualifies is asked the same way; nothing here looks at how they felt.
    A row let through counts as an ask for the rest of the batch.
    """
    s = get_settings()
    if not review_url:
        return Hold(
            MessageStatus.SKIPPED,
            f"condition {REVIEW_DUE}: no review page is set for the location visited "
            "(its review page, or the clinic's: NURTURE_REVIEW_URL or the studio's clinic "
            "settings)",
        )
    visits = facts.attended.get(lead_id, 0)
    if visits < s.review_after_visits:
        return Hold(
            MessageStatus.SKIPPED,
            f"condition {REVIEW_DUE}: {visits} attended visit(s); requests go after "
            f"{s.review_after_visits} (NURTURE_REVIEW_AFTER_VISITS)",
        )
    asked = facts.reviews_asked.setdefault(lead_id, [])
    if asked:
        return Hold(
            MessageStatus.SKIPPED,
            f"condition {REVIEW_DUE}: a review request went on {max(asked).date().isoformat()}; "
            f"at most one per {s.review_cooldown_days} days (NURTURE_REVIEW_COOLDOWN_DAYS)",
        )
    asked.append(now)
    return None


def _happened(event: str, visits: list[tuple[datetime, datetime, str]], since: datetime) -> bool:
    """Whether `event` (a booking or an attended visit) happened at or after `since`."""
    if event == Goal.BOOKED:
        return any(c >= since and s != AppointmentStatus.CANCELLED for c, _, s in visits)
    return any(u >= since and s == AppointmentStatus.ATTENDED for _, u, s in visits)


def check(message: Message, facts: Facts, now: datetime) -> Hold | None:
    """Re-check suppression, lead state, enrollment, pause and step condition at send time."""
    lead = message.lead
    address = message.to_email or (lead.email if lead else None)
    if address is None:
        return Hold(MessageStatus.CANCELLED, "the lead no longer exists")
    reason = facts.suppressed.get(address)
    if stops(reason, stream=message.stream, address=address):
        return Hold(MessageStatus.SUPPRESSED, why(reason, address=address))
    if message.template == "confirm":
        if lead is None or lead.status == LeadStatus.ACTIVE:
            return Hold(MessageStatus.SKIPPED, "already confirmed")
        return None
    if message.appointment_id is not None:
        return check_appointment(message, facts, now)
    if message.stream != Stream.MARKETING:
        return None
    if lead is None or lead.status != LeadStatus.ACTIVE:
        return Hold(MessageStatus.CANCELLED, "lead is not subscribed")
    if message.broadcast_id is not None:
        broadcast = facts.broadcasts.get(message.broadcast_id)
        if broadcast is None or broadcast.status == BroadcastStatus.CANCELLED:
            return Hold(MessageStatus.CANCELLED, "the broadcast was cancelled")
    if message.enrollment_id is not None:
        enrollment = facts.enrollments.get(message.enrollment_id)
        if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
            return Hold(MessageStatus.CANCELLED, "enrollment has ended")
        # A goal reached since the enrollment began ends it, even for a row already claimed.
        visits = facts.visits.get(lead.id, [])
        for goal in enrollment.version.goals:
            if _happened(goal, visits, enrollment.enrolled_at):
                return Hold(MessageStatus.CANCELLED, f"goal reached: {goal}", goal=goal)
    if lead.paused_until is not None and lead.paused_until > now:
        return Hold(MessageStatus.PENDING, "lead paused emails", until=lead.paused_until)
    step = facts.steps.get(message.step_id) if message.step_id else None
    if step is not None and step.condition == "not_booked" and lead.id in facts.booked_leads:
        return Hold(MessageStatus.SKIPPED, "condition not_booked: the lead has booked")
    if step is not None and step.wait_until is not None:
        # The wait began when the row was planned (the previous step done, or the start).
        if _happened(step.wait_until, facts.visits.get(lead.id, []), message.created_at):
            return Hold(MessageStatus.SKIPPED, f"wait until {step.wait_until}: it happened")
    if step is not None and step.condition == "clicked_previous":
        previous = (message.enrollment_id or 0, step.position - 1)
        if previous not in facts.clicked_steps:
            return Hold(MessageStatus.SKIPPED, "condition clicked_previous: no click")
    if step is not None and step.condition == REVIEW_DUE:
        # The review page of the site they last visited (the clinic's when it has none).
        visited = facts.visited[lead.id] if lead.id in facts.visited else visited_site(lead)
        page = locations.site(visited or lead.location_key).review_url
        return _review_hold(lead.id, facts, now, review_url=page)
    return None


def check_appointment(message: Message, facts: Facts, now: datetime) -> Hold | None:
    """A reminder goes only for the visit as it stands now (same revision, still on, ahead)."""
    appointment = facts.appointments.get(message.appointment_id or 0)
    if appointment is None:
        return Hold(MessageStatus.CANCELLED, "the appointment no longer exists")
    if message.context.get("revision") != appointment.revision:
        return Hold(MessageStatus.CANCELLED, "the visit has changed since this was planned")
    wanted = (
        AppointmentStatus.CANCELLED
        if message.context.get("kind") == "cancellation"
        else AppointmentStatus.BOOKED
    )
    if appointment.status != wanted:
        return Hold(MessageStatus.CANCELLED, f"the visit is {appointment.status}")
    # A backlog can reach a row after its moment: the same rules the tick applies when it
    # claims (outbox.skip_stale), checked again for rows that waited in the queue.
    if appointment.starts_at <= now:
        return Hold(MessageStatus.SKIPPED, outbox.VISIT_STARTED)
    if message.id in facts.superseded:
        return Hold(MessageStatus.SKIPPED, outbox.SUPERSEDED)
    if message.template == outbox.NUDGE_TEMPLATE:
        # The nudge asks for an answer; one given since it was planned makes it moot.
        if appointment.confirmed_at is not None:
            return Hold(MessageStatus.SKIPPED, "already confirmed")
        if appointment.change_requested_at is not None:
            return Hold(MessageStatus.SKIPPED, "the patient asked to change the visit")
        # Late (a backlog, an outage): the booking email asked already; never at night.
        if in_quiet_hours(now.astimezone(ZoneInfo(appointment.timezone)).hour):
            return Hold(MessageStatus.SKIPPED, "it would arrive in quiet hours")
    return None
