"""Book, move and cancel appointments; plan the reminders each one needs.

Every change raises the appointment's revision. Reminder rows are keyed by
(appointment, name@revision), so a change never edits a row a worker may be sending: it
cancels the old revision's unsent rows and plans new ones, and a send-time check refuses any
row whose revision is no longer current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.reminders import NUDGE, TEMPLATES, nudge_unwanted, reminder_due
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.appointments.texting import follow_number, plan_texts_ahead, text_number
from nurture.core.config import get_settings
from nurture.enrollments import service as enrollments
from nurture.leads import consent
from nurture.leads.models import Lead, LeadStatus, NumbnessType, TypeSource
from nurture.leads.service import find_or_create
from nurture.locations import service as locations
from nurture.outbox import plan as outbox
from nurture.outbox.models import Channel, Message, MessageStatus, Stream
from nurture.sequences.models import Trigger


class AppointmentError(ValueError):
    """A booking request that cannot be honoured (a visit in the past, for example)."""


@dataclass(frozen=True, slots=True)
class BookResult:
    """The appointment and whether this call created or changed it."""

    appointment: Appointment
    created: bool
    changed: bool


def lead_for_visit(
    session: Session,
    *,
    email: str,
    first_name: str,
    timezone: str,
    now: datetime,
    known: Lead | None = None,
    language: str | None = None,
) -> Lead:
    """Return the lead a visit belongs to (`known`, else found or created by address).

    Every way a visit arrives (API, Cal.com, import) comes through here. A visit is no
    marketing consent: a new lead gets reminders, never the drip. A first name the lead lacks
    is filled in; one it has is kept.
    """
    lead = known or find_or_create(
        session,
        email=email,
        first_name=first_name,
        numbness_type=NumbnessType.UNSURE,
        timezone=timezone,
        status=LeadStatus.NO_CONSENT,
        now=now,
        source=TypeSource.BOOKING,
        language=language,
    )
    if first_name and not lead.first_name:
        lead.first_name = first_name
    return lead


class Visit(Protocol):
    """A visit as it arrives: an API body, a Cal.com booking or a row of an imported file."""

    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def timezone(self) -> str: ...
    @property
    def duration_minutes(self) -> int: ...
    @property
    def location(self) -> str: ...
    @property
    def language(self) -> str | None: ...


def new_visit(lead: Lead, visit: Visit, *, status: str, now: datetime) -> Appointment:
    """Return an unsaved appointment of `lead` at `visit`'s time and place."""
    location_key, place = locations.split_place(visit.location)
    if location_key is not None:
        # The lead's site follows their latest visit.
        lead.location_key = location_key
    return Appointment(
        lead_id=lead.id,
        external_id=visit.external_id,
        starts_at=visit.starts_at,
        timezone=visit.timezone,
        duration_minutes=visit.duration_minutes,
        location=place,
        location_key=location_key,
        status=status,
        created_at=now,
        updated_at=now,
    )


def add_visit(
    session: Session, visit: Visit, *, status: str, now: datetime
) -> tuple[Lead, Appointment]:
    lead = lead_for_visit(
        session,
        email=visit.email,
        first_name=visit.first_name,
        timezone=visit.timezone,
        now=now,
        language=visit.language,
    )
    appointment = new_visit(lead, visit, status=status, now=now)
    session.add(appointment)
    session.flush()
    return lead, appointment


def _plan(
    session: Session,
    appointment: Appointment,
    kind: str,
    name: str,
    due: datetime,
    *,
    skipped: bool = False,
    phone: str | None = None,
) -> list[Message]:
    """Plan one message of the visit on each channel it goes by (email, and a text if any)."""
    channels: list[tuple[str, str | None]] = []
    if Channel.EMAIL in get_settings().reminder_channels or phone is None:
        # A patient who gets no texts keeps the emails, whatever the chosen mix.
        channels.append((Channel.EMAIL, None))
    if phone is not None:
        channels.append((Channel.SMS, phone))
    planned = []
    for channel, to_phone in channels:
        suffix = "" if channel == Channel.EMAIL else f":{channel}"
        message = outbox.plan(
            session,
            key=f"appt:{appointment.id}:{name}@r{appointment.revision}{suffix}",
            stream=Stream.TRANSACTIONAL,
            template=TEMPLATES[kind],
            due_at=due,
            lead_id=appointment.lead_id,
            appointment_id=appointment.id,
            reminder=f"{name}@r{appointment.revision}",
            context={"kind": kind, "revision": appointment.revision},
            channel=channel,
            to_phone=to_phone,
        )
        if skipped:
            message.status = MessageStatus.SKIPPED
            message.last_error = "its moment had passed when the booking arrived"
        planned.append(message)
    return planned


def _plan_reminders(session: Session, appointment: Appointment, now: datetime) -> None:
    """Plan the reminders and the confirmation nudge of the visit's current revision."""
    tz = ZoneInfo(appointment.timezone)
    s = get_settings()
    phone = text_number(session, appointment)
    planned = [("reminder", f"{h}h", h) for h in set(s.reminder_offsets_hours)]
    if s.confirm_nudge_hours:
        # One more row of the same kind: a move or cancel ends it with the reminders, and
        # whether the patient has answered is decided when it is about to go.
        planned.append((NUDGE, NUDGE, s.confirm_nudge_hours))
    for kind, name, hours in sorted(planned, key=lambda p: (-p[2], p[0])):
        due = max(reminder_due(appointment.starts_at, hours, tz), now)
        messages = _plan(
            session,
            appointment,
            kind,
            name,
            due,
            skipped=appointment.starts_at - timedelta(hours=hours) <= now,
            phone=phone,
        )
        reason = nudge_unwanted(due, now=now, tz=tz) if kind == NUDGE else None
        for message in messages:
            # The nudge is left out on every channel alike.
            if reason is not None and message.status == MessageStatus.PENDING:
                message.status = MessageStatus.SKIPPED
                message.last_error = reason


def cancel_unsent(session: Session, appointment: Appointment, reason: str) -> None:
    """Cancel the visit's emails that have not gone out yet, saying why."""
    session.execute(
        update(Message)
        .where(Message.appointment_id == appointment.id, Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, last_error=reason)
        .execution_options(synchronize_session="fetch")
    )


def _check_future(starts_at: datetime, now: datetime) -> None:
    if starts_at <= now:
        raise AppointmentError("starts_at is in the past; a visit must be in the future")


def book(session: Session, *, data: AppointmentIn, now: datetime) -> BookResult:
    """Create (or, by external id, update) an appointment in one transaction."""
    existing = (
        session.scalar(select(Appointment).where(Appointment.external_id == data.external_id))
        if data.external_id
        else None
    )
    if existing is not None:
        same = (
            existing.starts_at == data.starts_at
            and existing.timezone == data.timezone
            and existing.duration_minutes == data.duration_minutes
            and (existing.location_key, existing.location) == locations.split_place(data.location)
            and existing.status == AppointmentStatus.BOOKED
        )
        consented = _take_phone(session, existing, data, now)
        if same:
            if consented:
                # Consent given with a booking already known: texts for what is still ahead.
                plan_texts_ahead(session, existing, now)
            return BookResult(existing, created=False, changed=False)
        patch = AppointmentPatch(
            starts_at=data.starts_at,
            timezone=data.timezone,
            duration_minutes=data.duration_minutes,
            location=data.location,
        )
        # Booking the same visit again is a booking: it re-opens a cancelled one.
        return BookResult(_move(session, existing, patch, now), created=False, changed=True)
    _check_future(data.starts_at, now)
    lead, appointment = add_visit(session, data, status=AppointmentStatus.BOOKED, now=now)
    _take_phone(session, appointment, data, now)
    _plan(
        session,
        appointment,
        "confirmation",
        "confirmation",
        now,
        phone=text_number(session, appointment),
    )
    _plan_reminders(session, appointment, now)
    _booked(session, lead, now)
    return BookResult(appointment, created=True, changed=True)


def _take_phone(
    session: Session, appointment: Appointment, data: AppointmentIn, now: datetime
) -> bool:
    """Keep the visit's number (E.164 already) and record SMS consent given for it.

    Return whether the consent is new (the lead had none standing).
    """
    if data.phone:
        # A new number from a later booking event or import: planned texts follow it.
        follow_number(session, appointment, data.phone)
    if data.sms_consent and appointment.phone:
        lead = session.get(Lead, appointment.lead_id)
        if lead is not None:
            new = not consent.sms_consented(session, lead_ids={lead.id})
            consent.record_sms_consent(
                session,
                lead=lead,
                phone=appointment.phone,
                source="given with the booking",
                now=now,
            )
            return new
    return False


def record_cancelled(session: Session, *, data: AppointmentIn, now: datetime) -> Appointment:
    """Record a visit whose cancellation arrived before its booking; the patient is told nothing.

    They never heard from us about it, so no confirmation, reminder or notice is planned; what
    follows any cancellation (the rebook sequence, for those who opted in) still applies.
    """
    _, appointment = add_visit(session, data, status=AppointmentStatus.CANCELLED, now=now)
    _follow_up(session, appointment, get_settings().rebook_audience, now)
    return appointment


def changes(appointment: Appointment, patch: AppointmentPatch) -> dict[str, object]:
    """Return the fields `patch` would change, with their new values (empty: a no-op)."""
    wanted = patch.model_dump(exclude_none=True)
    changed = {k: v for k, v in wanted.items() if k != "location" and getattr(appointment, k) != v}
    if patch.location is not None:
        place = locations.split_place(patch.location)
        if place != (appointment.location_key, appointment.location):
            changed["location"] = patch.location
    return changed


def reschedule(
    session: Session, *, appointment: Appointment, patch: AppointmentPatch, now: datetime
) -> Appointment:
    """Move a visit (or record its outcome); re-plan every unsent reminder.

    A patch that changes nothing leaves the visit as it is: a cancelled one stays cancelled
    and nobody is sent an update.
    """
    if not changes(appointment, patch):
        return appointment
    if patch.status is not None:
        return mark_outcome(session, appointment=appointment, status=patch.status, now=now)
    return _move(session, appointment, patch, now)


def _move(
    session: Session, appointment: Appointment, patch: AppointmentPatch, now: datetime
) -> Appointment:
    starts_at = patch.starts_at or appointment.starts_at
    _check_future(starts_at, now)
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED):
        raise AppointmentError(f"the appointment is {appointment.status}; it cannot be moved")
    appointment.starts_at = starts_at
    appointment.timezone = patch.timezone or appointment.timezone
    appointment.duration_minutes = patch.duration_minutes or appointment.duration_minutes
    if patch.location is not None:
        appointment.location_key, appointment.location = locations.split_place(patch.location)
        if appointment.location_key is not None:
            lead = session.get(Lead, appointment.lead_id)
            if lead is not None:
                lead.location_key = appointment.location_key
    reopened = appointment.status == AppointmentStatus.CANCELLED
    appointment.status = AppointmentStatus.BOOKED
    appointment.revision += 1
    appointment.updated_at = now
    # An answer was about the old time; the patient is asked again about the new one.
    appointment.confirmed_at = None
    appointment.change_requested_at = None
    cancel_unsent(session, appointment, "the visit moved")
    _plan(
        session,
        appointment,
        "confirmation" if reopened else "update",
        "notice",
        now,
        phone=text_number(session, appointment),
    )
    _plan_reminders(session, appointment, now)
    if reopened:
        lead = session.get(Lead, appointment.lead_id)
        if lead is not None:
            _booked(session, lead, now)
    session.flush()
    return appointment


def cancel(session: Session, *, appointment: Appointment, now: datetime) -> Appointment:
    """Cancel a visit: stop its reminders, send a notice, offer the rebook sequence."""
    if appointment.status == AppointmentStatus.CANCELLED:
        return appointment
    appointment.status = AppointmentStatus.CANCELLED
    appointment.revision += 1
    appointment.updated_at = now
    cancel_unsent(session, appointment, "the visit was cancelled")
    _plan(
        session,
        appointment,
        "cancellation",
        "notice",
        now,
        phone=text_number(session, appointment),
    )
    _follow_up(session, appointment, get_settings().rebook_audience, now)
    session.flush()
    return appointment


def mark_outcome(
    session: Session, *, appointment: Appointment, status: str, now: datetime
) -> Appointment:
    was = appointment.status
    appointment.status = status
    appointment.updated_at = now
    cancel_unsent(session, appointment, f"the visit is marked {status}")
    if was == AppointmentStatus.NO_SHOW and status != AppointmentStatus.NO_SHOW:
        enrollments.withdraw_started_by(  # the mark was a mistake: no "we missed you"
            session,
            lead_id=appointment.lead_id,
            trigger=Trigger.NO_SHOW,
            audience=get_settings().no_show_audience,
            since=appointment.starts_at,
            at=now,
        )
    outcome_follows(session, appointment, now)
    session.flush()
    return appointment


def outcome_follows(session: Session, appointment: Appointment, now: datetime) -> None:
    """Start what the visit's outcome starts: the no-show offer and the outcome's journeys."""
    status = appointment.status
    if status == AppointmentStatus.NO_SHOW:
        _follow_up(session, appointment, get_settings().no_show_audience, now)
    lead = session.get(Lead, appointment.lead_id)
    if lead is not None and status in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW):
        if status == AppointmentStatus.ATTENDED:
            enrollments.reach_goal(session, lead_id=lead.id, goal=Trigger.ATTENDED, at=now)
        enrollments.start_journeys(session, lead=lead, trigger=status, now=now)


def _booked(session: Session, lead: Lead, now: datetime) -> None:
    """A booking: end what it is the goal of, then start what it triggers."""
    enrollments.reach_goal(session, lead_id=lead.id, goal=Trigger.BOOKED, at=now)
    enrollments.start_journeys(session, lead=lead, trigger=Trigger.BOOKED, now=now)


def _follow_up(
    session: Session, appointment: Appointment, audience: str | None, now: datetime
) -> None:
    lead = session.get(Lead, appointment.lead_id)
    # Only people who opted in to marketing get a follow-up sequence.
    if audience and lead is not None and lead.status == LeadStatus.ACTIVE:
        enrollments.enroll(session, lead=lead, now=now, audience=audience)
