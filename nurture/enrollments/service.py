"""Enroll leads, advance them step by step, and end enrollments on a goal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core.config import get_settings
from nurture.enrollments import variants
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads import consent
from nurture.leads.models import Lead, LeadStatus
from nurture.outbox.models import Message, MessageStatus, Stream
from nurture.sequences import service as sequences
from nurture.sequences.models import Reentry, SequenceVersion, Step, Trigger, VersionState
from nurture.sequences.schedule import add_delay, next_opening, window_of


def lead_zone(lead: Lead) -> ZoneInfo:
    """Return the lead's time zone, or the clinic's when it is unknown."""
    return ZoneInfo(lead.timezone or get_settings().clinic_timezone)


def step_key(enrollment_id: int, step_id: int) -> str:
    """Return the outbox key of one step for one enrollment."""
    return f"step:{enrollment_id}:{step_id}"


def enroll(
    session: Session,
    *,
    lead: Lead,
    now: datetime,
    audience: str | None = None,
    skip_keys: frozenset[str] = frozenset(),
    version: SequenceVersion | None = None,
    start_at: datetime | None = None,
) -> Enrollment | None:
    """Start `lead` on the live version of an audience's sequence (its type's by default).

    Steps whose key is in `skip_keys` (content the lead already read) are passed over, here
    and at every later step: the keys are kept on the enrollment. A trigger passes the
    `version` it starts and may count the first step from the event (`start_at`) rather than
    from `now`. The version's re-entry rule may refuse a lead who has been through it.
    """
    if version is None:
        sequence = sequences.sequence_for_audience(session, audience or lead.numbness_type)
        if sequence is None:
            return None
        version = sequences.live_version(session, sequence.id)
        # A sequence with a trigger of its own starts on that event, never by its audience.
        if version is None or version.trigger != Trigger.SIGNUP:
            return None
    active = session.scalar(
        select(Enrollment).where(
            Enrollment.lead_id == lead.id,
            Enrollment.sequence_id == version.sequence_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
        )
    )
    if active is not None:
        return active
    if not _may_enter(session, lead_id=lead.id, version=version, now=now):
        return None
    steps = [s for s in version.steps if s.key not in skip_keys]
    if not steps:
        return None
    enrollment = Enrollment(
        lead_id=lead.id,
        sequence_id=version.sequence_id,
        version_id=version.id,
        enrolled_at=now,
        last_position=steps[0].position - 1,
        skip_keys=sorted(skip_keys & {s.key for s in version.steps}),
    )
    session.add(enrollment)
    session.flush()
    _plan_step(session, enrollment=enrollment, lead=lead, step=steps[0], after=start_at or now)
    return enrollment


def _may_enter(session: Session, *, lead_id: int, version: SequenceVersion, now: datetime) -> bool:
    if version.reentry == Reentry.ALWAYS:
        return True
    last = session.scalar(
        select(func.max(Enrollment.enrolled_at)).where(
            Enrollment.lead_id == lead_id, Enrollment.sequence_id == version.sequence_id
        )
    )
    if last is None:
        return True
    if version.reentry == Reentry.AFTER and version.reentry_after_days is not None:
        return last <= now - timedelta(days=version.reentry_after_days)
    return False


def start_journeys(
    session: Session, *, lead: Lead, trigger: str, now: datetime, start_at: datetime | None = None
) -> list[Enrollment]:
    """Start every live sequence that `trigger` starts, for a lead who may get marketing mail.

    These are marketing: a lead who opted in gets them; a patient who never said either way
    gets them only with NURTURE_SOFT_OPT_IN_PATIENTS, recorded as such in the consent trail.
    """
    versions = sequences.live_for_trigger(session, trigger)
    if not versions:
        return []
    soft = (
        lead.status == LeadStatus.NO_CONSENT
        and get_settings().soft_opt_in_patients
        and is_patient(session, lead_id=lead.id, now=now)
    )
    if lead.status != LeadStatus.ACTIVE and not soft:
        return []
    started = [
        e
        for v in versions
        if (e := enroll(session, lead=lead, now=now, version=v, start_at=start_at)) is not None
    ]
    if soft and any(e.enrolled_at == now for e in started):
        consent.record_soft_opt_in(session, lead=lead, reason=trigger, now=now)
    return started


def visited(now: datetime) -> ColumnElement[bool]:
    """Return the condition for an appointment that took place (marked attended, or past)."""
    return (Appointment.status == AppointmentStatus.ATTENDED) | (
        (Appointment.status == AppointmentStatus.BOOKED) & (Appointment.starts_at <= now)
    )


def is_patient(session: Session, *, lead_id: int, now: datetime) -> bool:
    """Tell whether the lead has been to the clinic (the only people soft opt-in covers)."""
    return (
        session.scalar(
            select(Appointment.id).where(Appointment.lead_id == lead_id, visited(now)).limit(1)
        )
        is not None
    )


def end(enrollment: Enrollment, *, reason: str, at: datetime) -> None:
    """End an active enrollment early (a goal reached); its unsent email is the caller's."""
    if enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.status = EnrollmentStatus.EXITED
        enrollment.exit_reason = reason
        enrollment.ended_at = at


def reach_goal(session: Session, *, lead_id: int, goal: str, at: datetime) -> int:
    """End the lead's active enrollments that `goal` ends, and cancel their unsent emails."""
    active = _active(session, lead_id=lead_id)
    ended = [e for e in active if goal in e.version.goals]
    return _end_all(session, ended, reason=goal, note=f"enrollment ended: {goal}", at=at)


def withdraw_started_by(
    session: Session,
    *,
    lead_id: int,
    trigger: str,
    audience: str | None,
    since: datetime,
    at: datetime,
) -> int:
    """End what an event taken back had started: journeys of `trigger`, or the `audience` drip.

    Only enrollments begun at or after `since` (the event's time) end; their unsent email is
    cancelled. A visit marked missed by mistake and then corrected stops its "we missed you".
    """
    active = _active(session, lead_id=lead_id, since=since)
    ended = [
        e
        for e in active
        if e.version.trigger == trigger or (audience and e.version.sequence.audience == audience)
    ]
    note = f"{trigger} was taken back"
    return _end_all(session, ended, reason=f"{trigger} withdrawn", note=note, at=at)


def _active(session: Session, *, lead_id: int, since: datetime | None = None) -> list[Enrollment]:
    query = select(Enrollment).where(
        Enrollment.lead_id == lead_id, Enrollment.status == EnrollmentStatus.ACTIVE
    )
    if since is not None:
        query = query.where(Enrollment.enrolled_at >= since)
    return list(session.scalars(query))


def _end_all(
    session: Session, ended: list[Enrollment], *, reason: str, note: str, at: datetime
) -> int:
    """End these enrollments and cancel their unsent email, saying why."""
    for enrollment in ended:
        end(enrollment, reason=reason, at=at)
    if ended:
        session.execute(
            update(Message)
            .where(
                Message.enrollment_id.in_([e.id for e in ended]),
                Message.status == MessageStatus.PENDING,
            )
            .values(status=MessageStatus.CANCELLED, last_error=note)
            .execution_options(synchronize_session="fetch")
        )
    session.flush()
    return len(ended)


def keys_sent(session: Session, *, lead_id: int) -> frozenset[str]:
    """Return the step keys of every drip email this lead has been sent, or may have been."""
    # An email whose send has started (or whose outcome is unknown) may be in the lead's inbox
    # already: counting it read risks one missed email, not counting it risks a repeat.
    maybe_sent = (Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN])) | (
        (Message.status == MessageStatus.SENDING) & Message.attempt_started_at.is_not(None)
    )
    return frozenset(
        session.scalars(
            select(Step.key)
            .join(Message, Message.step_id == Step.id)
            .where(Message.lead_id == lead_id, maybe_sent)
        )
    )


def due_for(
    step: Step,
    *,
    version: SequenceVersion,
    tz: ZoneInfo,
    after: datetime,
    location_key: str | None = None,
) -> datetime:
    """When `step` falls due for a lead in `tz`, counted from `after`, inside the window."""
    if step.wait_until is not None:
        # A waiting step is planned at its time-out; the event coming first skips it at send
        # time (nurture.delivery.compose), so nothing needs re-planning when it happens.
        due = add_delay(after, days=step.wait_at_most_days or 0, minutes=0, tz=tz)
        return next_opening(due, tz=tz, window=window_of(version, location_key=location_key))
    due = add_delay(after, days=step.delay_days, minutes=step.delay_minutes, tz=tz)
    # The first email right after confirming goes at once: the lead has just acted on it.
    if step.position == 1 and step.delay_days == 0 and step.delay_minutes == 0:
        return due
    return next_opening(due, tz=tz, window=window_of(version, location_key=location_key))


def _plan_step(
    session: Session,
    *,
    enrollment: Enrollment,
    lead: Lead,
    step: Step,
    after: datetime,
    batch: list[dict[str, Any]] | None = None,
) -> None:
    due = due_for(
        step,
        version=enrollment.version,
        tz=lead_zone(lead),
        after=after,
        location_key=lead.location_key,
    )
    row: dict[str, Any] = {
        "key": step_key(enrollment.id, step.id),
        "stream": Stream.MARKETING,
        "due_at": due,
        "lead_id": lead.id,
        "enrollment_id": enrollment.id,
        "step_id": step.id,
    }
    if batch is not None:
        # The caller inserts a whole chunk's next steps in one statement (variants.plan_many).
        batch.append({**row, "created_at": after})
        return
    variants.plan_step(session, **row)


def advance(
    session: Session,
    *,
    enrollment: Enrollment,
    step: Step,
    at: datetime,
    batch: list[dict[str, Any]] | None = None,
) -> Step | None:
    """Record that `step` is done (sent or skipped) and plan the next one; return it."""
    enrollment.last_position = max(enrollment.last_position, step.position)
    skip = enrollment.skip_keys
    following = [
        s for s in enrollment.version.steps if s.position > step.position and s.key not in skip
    ]
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return None
    if not following:
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.ended_at = at
        return None
    _plan_step(
        session,
        enrollment=enrollment,
        lead=enrollment.lead,
        step=following[0],
        after=at,
        batch=batch,
    )
    return following[0]


def exit_active(
    session: Session,
    *,
    lead_id: int,
    reason: str,
    at: datetime,
    sequence_id: int | None = None,
    keep_broadcasts: bool = False,
) -> int:
    """End a lead's active enrollments and cancel their unsent emails; return how many ended.

    With `sequence_id`, only the enrollment in that sequence ends, with its own emails. Without
    it every unsent marketing email goes, broadcasts included, unless `keep_broadcasts` says the
    lead still wants marketing mail (a type change, staff taking them out of sequences).
    """
    which = [Enrollment.lead_id == lead_id, Enrollment.status == EnrollmentStatus.ACTIVE]
    unsent = [
        Message.lead_id == lead_id,
        Message.stream == Stream.MARKETING,
        Message.status == MessageStatus.PENDING,
    ]
    if sequence_id is not None:
        which.append(Enrollment.sequence_id == sequence_id)
        # Read before the update below ends them, so their emails can be found.
        ids = list(session.scalars(select(Enrollment.id).where(*which)))
        unsent.append(Message.enrollment_id.in_(ids))
    elif keep_broadcasts:
        unsent.append(Message.broadcast_id.is_(None))
    ended = session.execute(
        update(Enrollment)
        .where(*which)
        .values(status=EnrollmentStatus.EXITED, exit_reason=reason, ended_at=at)
        .execution_options(synchronize_session="fetch")
    )
    session.execute(
        update(Message)
        .where(*unsent)
        .values(
            status=MessageStatus.CANCELLED,
            # A broadcast email is stopped by the same event but belongs to no enrollment.
            last_error=case(
                (Message.broadcast_id.is_not(None), f"not sent: {reason}"),
                else_=f"enrollment ended: {reason}",
            ),
        )
        .execution_options(synchronize_session="fetch")
    )
    return int(ended.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What moving enrollments to another version did."""

    moved: int
    waiting: int  # enrollments with an email in flight; run the migration again later


def migrate_version(
    session: Session,
    *,
    to_version: SequenceVersion,
    step_map: dict[str, str] | None = None,
) -> MigrationReport:
    """Move active enrollments of the same sequence onto `to_version`, explicitly.

    Each enrollment's next unsent step is mapped by key (`step_map` old -> new; unmapped keys
    map to the same key). Steps already sent stay sent; nothing is sent twice or skipped
    unless the mapping says so. A key with no counterpart is refused before anything changes.
    """
    if to_version.state != VersionState.PUBLISHED:
        raise ValueError("enrollments can only move to a published version")
    mapping = step_map or {}
    targets = {s.key: s for s in to_version.steps}
    active = session.scalars(
        select(Enrollment).where(
            Enrollment.sequence_id == to_version.sequence_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
            Enrollment.version_id != to_version.id,
        )
    ).all()
    moved = waiting = 0
    plans: list[tuple[Enrollment, Message, Step]] = []
    for enrollment in active:
        pending = session.scalar(
            select(Message).where(
                Message.enrollment_id == enrollment.id, Message.status == MessageStatus.PENDING
            )
        )
        if pending is None or pending.step_id is None:
            waiting += 1
            continue
        old_step = session.get(Step, pending.step_id)
        assert old_step is not None
        new_key = mapping.get(old_step.key, old_step.key)
        if new_key not in targets:
            raise ValueError(
                f"step {old_step.key!r} has no counterpart in version {to_version.number}; "
                f"map it to one of: {', '.join(targets)}"
            )
        plans.append((enrollment, pending, targets[new_key]))
    for enrollment, pending, new_step in plans:
        enrollment.version_id = to_version.id
        enrollment.last_position = new_step.position - 1
        # The arm goes with the row: kept where the new step has one of that name.
        pending.variant_key = variants.pick(session, step_id=new_step.id, keep=pending.variant_key)
        pending.step_id = new_step.id
        pending.key = step_key(enrollment.id, new_step.id)
        session.expire(enrollment, ["version"])
        moved += 1
    session.flush()
    return MigrationReport(moved=moved, waiting=waiting)
