"""Cal.com's booking webhook, applied: keep each booking's events in order (see `calcom`).

Cal.com signs the body but no timestamp, so a captured request can be replayed at any time
and events arrive out of order. Each visit remembers when the last applied change was made (the
envelope's `createdAt`); an event that is not newer changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.appointments import calcom_series, outcomes, service
from nurture.appointments.calcom import (
    CANCELLED,
    CREATED,
    NO_SHOW,
    NO_SHOWS,
    REJECTED,
    REQUESTED,
    RESCHEDULED,
    CalcomError,
    Envelope,
    _attendee,
    _attendees,
    _first_name,
    _language,
    _phone,
    _place,
    _series,
    _time,
    _uid,
    booking,
    seated,
    visit_key,
    waits_in_series,
)
from nurture.appointments.models import (
    Appointment,
    AppointmentAlias,
    AppointmentStatus,
    CalcomRequest,
)
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core.config import get_settings

log = logging.getLogger(__name__)


def _current(session: Session, key: str) -> Appointment | None:
    return session.scalar(
        select(Appointment).where(Appointment.external_id == key).with_for_update()
    )


def _retired(session: Session, key: str) -> bool:
    return session.get(AppointmentAlias, key) is not None


def _retire(session: Session, key: str, appointment: Appointment) -> None:
    if session.get(AppointmentAlias, key) is None:
        session.add(AppointmentAlias(external_id=key, appointment_id=appointment.id))


def _order(appointment: Appointment, created_at: datetime) -> dict[str, Any] | None:
    """Return the answer for an event no newer than the last applied one, else None."""
    last = appointment.source_changed_at
    if last is None or created_at > last:
        return None
    if created_at == last:
        return {"status": "unchanged", "id": appointment.id}
    return {
        "status": "ignored",
        "reason": "a newer change to this booking was already applied",
        "id": appointment.id,
    }


def _keys(envelope: Envelope) -> list[str]:
    """The visits a cancel or no-show names: one per listed attendee of a seated booking."""
    uid = envelope.uid or ""
    if not seated(envelope.payload):
        return [visit_key(uid)]
    people = envelope.payload.get("attendees")
    emails = [
        p["email"]
        for p in (people if isinstance(people, list) else [])
        if isinstance(p, dict) and isinstance(p.get("email"), str) and p["email"].strip()
    ]
    return [visit_key(uid, email) for email in emails]


def apply(session: Session, envelope: Envelope, *, now: datetime) -> dict[str, Any]:
    """Apply a booking event (created, moved, cancelled, no-show) in order; say what happened."""
    uid, created_at = envelope.uid, envelope.created_at
    if uid is None or created_at is None:
        raise CalcomError(400, f"{envelope.trigger} needs the booking's uid and createdAt.")
    if envelope.trigger in NO_SHOWS:
        return _no_show(session, envelope, now=now)
    if envelope.trigger == CANCELLED:
        if seated(envelope.payload):
            # A seat's cancel lists only that seat's booker; the host's cancel lists everyone.
            results = [_cancel(session, envelope, key, now=now) for key in _keys(envelope)]
            return results[0] if len(results) == 1 else {"status": "cancelled", "visits": results}
        cancelled = _cancel(session, envelope, visit_key(uid), now=now)
        if _series(envelope.payload) is not None and cancelled.get("id") is not None:
            cancelled["series_cancelled"] = _cancel_series(session, cancelled["id"], now=now)
        return cancelled
    if envelope.trigger == REJECTED:
        return _rejected(session, envelope)
    if envelope.trigger == REQUESTED and waits_in_series(envelope.payload):
        return calcom_series.remember(session, envelope)
    data = booking(envelope)
    key = data.external_id or visit_key(uid)
    appointment = _current(session, key)
    if appointment is None and _retired(session, key):
        return {"status": "ignored", "reason": "this booking was rescheduled into another"}
    old = _uid(envelope.payload.get("rescheduleUid"))
    moved = old is not None and envelope.trigger in (RESCHEDULED, REQUESTED)
    old_key = None
    if old is not None and moved:
        old_key = visit_key(old, data.email if seated(envelope.payload) else None)
    if envelope.trigger == REQUESTED:
        assert old_key is not None  # read_envelope lets through only requests that move a visit
        return _requested(session, envelope, key, old_key, appointment, now=now)
    if appointment is not None:
        old_key = None  # the booking is known: whatever it replaced was handled then
    elif (request := session.get(CalcomRequest, key)) is not None:
        # The host confirmed a reschedule: this booking replaces the one the request named.
        old_key = request.replaces
        session.delete(request)
    previous = _current(session, old_key) if old_key is not None else None
    target = appointment or previous
    if target is not None and (stale := _order(target, created_at)) is not None:
        return stale
    if previous is not None and previous.external_id is not None:
        # Cal.com gives the moved booking a new uid; the old one stays known as an alias.
        _retire(session, previous.external_id, previous)
        previous.external_id = key
        session.flush()
    result = service.book(session, data=data, now=now)
    visit = result.appointment
    visit.source_changed_at = created_at
    if visit.phone is None:
        # A number that is no valid mobile number still helps staff call the patient; it
        # gets no texts (the booking's data carries only valid numbers, set before planning).
        visit.phone = _phone(envelope.payload, _attendee(envelope.payload))
    visit.series = _series(envelope.payload) or visit.series
    if old_key is not None and previous is None:
        # The move overtook the booking it moves: the old uid's events, when they come, are
        # for this visit and change nothing.
        _retire(session, old_key, visit)
    session.flush()
    if result.created:
        state = "booked"
    elif not result.changed:
        state = "unchanged"
    else:
        state = (
            "rescheduled" if old_key is not None or envelope.trigger == RESCHEDULED else "updated"
        )
    answer: dict[str, Any] = {"status": state, "id": visit.id}
    series = _series(envelope.payload)
    if envelope.trigger == CREATED and series is not None:
        # The host confirmed a series: Cal.com accepted the rest of it without an event each.
        rest = calcom_series.confirmed(
            session, series, data.email, key, created_at=created_at, now=now
        )
        if rest:
            answer["series_booked"] = [apply(session, e, now=now).get("id") for e in rest]
    return answer


def _requested(
    session: Session,
    envelope: Envelope,
    key: str,
    old_key: str,
    appointment: Appointment | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Remember a reschedule waiting for the host; the visit keeps its time and reminders."""
    created_at = envelope.created_at
    assert created_at is not None
    if appointment is not None:
        # The confirmation came first (each event travels on its own) and booked the new time
        # as a visit of its own: the visit it replaces goes, without a notice.
        _retire_replaced(session, old_key, appointment, now=now)
        return {"status": "unchanged", "id": appointment.id}
    if not calcom_series.keep_newest(
        session, CalcomRequest, key, requested_at=created_at, replaces=old_key
    ):
        return {"status": "unchanged"}
    waiting = _current(session, old_key) or _aliased(session, old_key)
    return {
        "status": "requested",
        "reason": "the visit keeps its time until the host confirms the move",
        "id": waiting.id if waiting is not None else None,
    }


def _retire_replaced(
    session: Session, old_key: str, appointment: Appointment, *, now: datetime
) -> None:
    """End the visit a confirmed move replaced; the patient moved it and needs no notice."""
    old = _current(session, old_key)
    if old is None:
        _retire(session, old_key, appointment)  # its own events, when they come, change nothing
    elif old.id != appointment.id and old.lead_id == appointment.lead_id:
        if old.status == AppointmentStatus.BOOKED:
            old.status = AppointmentStatus.CANCELLED
            old.revision += 1
            old.updated_at = now
            service.cancel_unsent(session, old, "the visit moved to another booking")
    session.flush()


def _rejected(session: Session, envelope: Envelope) -> dict[str, Any]:
    """The host turned a waiting booking down: forget the move it asked for; nothing changes."""
    uid = envelope.uid or ""
    if calcom_series.forget_rejected(session, visit_key(uid)):
        return {"status": "rejected", "reason": "the host turned the series down; none is booked"}
    people = envelope.payload.get("attendees")
    listed = [p for p in (people if isinstance(people, list) else []) if isinstance(p, dict)]
    emails = sorted({_email(p) for p in listed} - {""})
    keys = [visit_key(uid)] + [visit_key(uid, email) for email in emails]
    requests = session.scalars(
        select(CalcomRequest).where(CalcomRequest.external_id.in_(keys)).with_for_update()
    ).all()
    for request in requests:
        session.delete(request)
    session.flush()
    if not requests:
        return {"status": "ignored", "reason": "no visit was waiting on this booking"}
    return {"status": "rejected", "reason": "the host turned the move down; the visit stays"}


def _cancel(session: Session, envelope: Envelope, key: str, *, now: datetime) -> dict[str, Any]:
    created_at = envelope.created_at
    assert created_at is not None
    appointment = _current(session, key)
    if appointment is None and _retired(session, key):
        return {"status": "ignored", "reason": "this booking was rescheduled into another"}
    request = session.get(CalcomRequest, key) if appointment is None else None
    if request is not None:
        # The patient withdrew a move still waiting for the host: the visit keeps its time.
        session.delete(request)
        return {"status": "ignored", "reason": "the move was withdrawn; the visit stays"}
    if appointment is None and calcom_series.forget_cancelled(session, key, envelope.payload):
        return {"status": "ignored", "reason": "the booking was still waiting for the host"}
    if appointment is None:
        # The cancel overtook its booking (each event is sent on its own). The cancelled visit
        # it leaves behind makes the older BOOKING_CREATED, when it comes, an event no newer
        # than the last applied one: ignored.
        data = booking(envelope).model_copy(update={"external_id": key})
        if seated(envelope.payload):
            person = next(
                p
                for p in _attendees(envelope.payload)
                if visit_key(envelope.uid or "", p["email"]) == key
            )
            data = data.model_copy(update={"email": person["email"].strip().lower()})
        appointment = service.record_cancelled(session, data=data, now=now)
        appointment.source_changed_at = created_at
        return {"status": "cancelled", "id": appointment.id}
    if (stale := _order(appointment, created_at)) is not None:
        return stale
    service.cancel(session, appointment=appointment, now=now)
    appointment.source_changed_at = created_at
    return {"status": "cancelled", "id": appointment.id}


def _cancel_series(session: Session, appointment_id: int, *, now: datetime) -> list[int]:
    """Cancel the visits of the same patient's series that have not started ("all remaining")."""
    first = session.get(Appointment, appointment_id)
    if first is None or first.series is None:
        return []
    rest = session.scalars(
        select(Appointment)
        .where(
            Appointment.lead_id == first.lead_id,
            Appointment.series == first.series,
            Appointment.id != first.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at)
        .with_for_update()
    ).all()
    for visit in rest:
        service.cancel(session, appointment=visit, now=now)
    return [v.id for v in rest]


def _no_show(session: Session, envelope: Envelope, *, now: datetime) -> dict[str, Any]:
    """Mark the visits of the attendees Cal.com reports missing as missed (the no-show path)."""
    uid = envelope.uid or ""
    people = envelope.payload.get("attendees")
    listed = [p for p in (people if isinstance(people, list) else []) if isinstance(p, dict)]
    flagged = [p for p in listed if p.get("noShow") is True]
    if envelope.trigger == NO_SHOW:
        missing = flagged  # the host may also clear a mark (noShow false): nothing to start
    else:
        missing = flagged or listed  # "the guest didn't join": every attendee of the booking
    emails = {_email(p) for p in missing} - {""}
    found = _visits_of(session, uid, emails)
    known = bool(found)  # whether any visit of this booking is known here
    marked: list[int] = []
    for appointment, belongs in found:
        if not belongs or appointment.status != AppointmentStatus.BOOKED:
            continue
        service.reschedule(
            session,
            appointment=appointment,
            patch=AppointmentPatch(status="no_show"),
            now=now,
        )
        marked.append(appointment.id)
    if not known:
        # A booking never seen here (its booking event was lost, or the webhook came later):
        # each missing person's visit is first seen as missed, and starts what a recent
        # missed visit starts.
        people = [p for p in missing if _email(p)]
        for person in people:
            key = visit_key(uid) if len(people) == 1 else visit_key(uid, _email(person))
            marked.append(_first_seen_missed(session, envelope, person, key, now=now))
    if envelope.trigger == NO_SHOW and not marked:
        cleared = _cleared(session, uid, [p for p in listed if p.get("noShow") is False], now)
        if cleared:
            return {"status": "no_show_cleared", "ids": cleared}
    if not marked:
        return {"status": "ignored", "reason": "no booked visit of this booking was missed"}
    return {"status": "no_show", "ids": marked}


def _cleared(session: Session, uid: str, people: list[dict[str, Any]], now: datetime) -> list[int]:
    """The host took a no-show mark back: the visit counts as held, its no-show follow-up ends."""
    cleared: list[int] = []
    for appointment, belongs in _visits_of(session, uid, {_email(p) for p in people} - {""}):
        if belongs and appointment.status == AppointmentStatus.NO_SHOW:
            service.mark_outcome(
                session, appointment=appointment, status=AppointmentStatus.BOOKED, now=now
            )
            cleared.append(appointment.id)
    return cleared


def _visits_of(session: Session, uid: str, emails: set[str]) -> list[tuple[Appointment, bool]]:
    """Each known visit of booking `uid` (its own, or a seat of `emails`), and whether it is
    one of `emails`' (a booking-wide visit belongs to whoever booked it)."""
    found: list[tuple[Appointment, bool]] = []
    for key in [visit_key(uid)] + [visit_key(uid, e) for e in sorted(emails)]:
        appointment = _current(session, key) or _aliased(session, key)
        if appointment is not None:
            whole = key == visit_key(uid) and bool(emails)
            belongs = not whole or _lead_email_in(session, appointment, emails)
            found.append((appointment, belongs))
    return found


def _email(person: dict[str, Any]) -> str:
    return str(person.get("email", "")).strip().lower()


def _first_seen_missed(
    session: Session, envelope: Envelope, person: dict[str, Any], key: str, *, now: datetime
) -> int:
    """Record a visit Cal.com reports missed that was never booked here (see `calcom`)."""
    created_at = envelope.created_at
    assert created_at is not None
    payload = envelope.payload
    # Cal Video's report names the visit's time; a host's mark does not, and comes after the
    # start, so the marking time stands in for it.
    start = _time(payload, "startTime") if payload.get("startTime") else created_at
    end = _time(payload, "endTime") if payload.get("endTime") else start
    zone = person.get("timeZone")
    data = AppointmentIn(
        email=_email(person),
        first_name=_first_name(person),
        starts_at=min(start, now),
        timezone=zone if isinstance(zone, str) else get_settings().clinic_timezone,
        duration_minutes=min(max(int((end - start).total_seconds() // 60), 5), 480),
        location=_place(payload),
        external_id=key,
        language=_language(person),
    )
    visit = outcomes.record_outcome(
        session, data=data, status=AppointmentStatus.NO_SHOW, now=now
    ).appointment
    visit.source_changed_at = created_at
    session.flush()
    return visit.id


def _aliased(session: Session, key: str) -> Appointment | None:
    alias = session.get(AppointmentAlias, key)
    return session.get(Appointment, alias.appointment_id) if alias is not None else None


def _lead_email_in(session: Session, appointment: Appointment, emails: set[str]) -> bool:
    from nurture.leads.models import Lead

    lead = session.get(Lead, appointment.lead_id)
    return lead is not None and lead.email.strip().lower() in emails
