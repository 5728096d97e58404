"""Cal.com bookings waiting for the host's confirmation (see `calcom`): recurring series here,
and the one way a waiting request is kept (`keep_newest`, also for reschedule requests).

Read from Cal.com's source: handleNewRecurringBooking runs handleNewBooking once per date of
the series, and each run of an event type that needs confirmation sends BOOKING_REQUESTED
(status PENDING, its own uid and startTime, the series' `recurringEvent` rule). When the host
confirms, handleConfirmation accepts every pending booking of the series but sends a single
BOOKING_CREATED, built from the booking confirmed. Each occurrence's request is kept here until
that confirmation books them all (`confirmed`), or a rejection or a cancel forgets them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.appointments.calcom import CREATED, Envelope, _series, _uid, booking
from nurture.appointments.models import (
    Appointment,
    AppointmentAlias,
    CalcomRequest,
    CalcomWaiting,
)

Waiting = TypeVar("Waiting", CalcomRequest, CalcomWaiting)


def remember(session: Session, envelope: Envelope) -> dict[str, Any]:
    """Keep one occurrence's request until the host decides; nothing is booked yet."""
    created_at, series = envelope.created_at, _series(envelope.payload)
    assert created_at is not None
    assert series is not None
    data = booking(envelope)  # a request that could never be booked is refused now, not later
    key = data.external_id or ""
    known = session.scalar(select(Appointment.id).where(Appointment.external_id == key))
    if known is not None or session.get(AppointmentAlias, key) is not None:
        # Its confirmation came first and booked it: the older request changes nothing.
        return {"status": "unchanged", "id": known}
    if not keep_newest(
        session,
        CalcomWaiting,
        key,
        requested_at=created_at,
        series=series,
        email=data.email.strip().lower(),
        starts_at=data.starts_at,
        payload=envelope.payload,
    ):
        return {"status": "unchanged"}
    return {"status": "requested", "reason": "the visit is booked when the host confirms"}


def keep_newest(
    session: Session,
    model: type[Waiting],
    key: str,
    *,
    requested_at: datetime,
    **fields: Any,
) -> bool:
    """Keep a request waiting for the host, keyed by the visit it would be; False if a request
    as new or newer is kept already (a replay, or a copy stored at the same moment)."""
    row = session.get(model, key, with_for_update=True)
    if row is not None and row.requested_at >= requested_at:
        return False
    if row is None:
        try:
            with session.begin_nested():
                session.add(model(external_id=key, requested_at=requested_at, **fields))
        except IntegrityError:
            return False  # a copy of the same request was stored at the same moment
    else:
        for name, value in {"requested_at": requested_at, **fields}.items():
            setattr(row, name, value)
    session.flush()
    return True


def confirmed(
    session: Session, series: str, email: str, key: str, *, created_at: datetime, now: datetime
) -> list[Envelope]:
    """Forget the series' waiting occurrences; return those still to come, as BOOKING_CREATED.

    `key` is the occurrence the host's confirmation named, booked by its own event.
    """
    rows = session.scalars(
        select(CalcomWaiting)
        .where(CalcomWaiting.series == series, CalcomWaiting.email == email.strip().lower())
        .order_by(CalcomWaiting.starts_at)
        .with_for_update()
    ).all()
    due = [
        Envelope(CREATED, created_at, _uid(row.payload.get("uid")), dict(row.payload))
        for row in rows
        if row.external_id != key and row.starts_at > now
    ]
    for row in rows:
        session.delete(row)
    session.flush()
    return due


def _forget_series(session: Session, row: CalcomWaiting) -> None:
    session.execute(
        delete(CalcomWaiting).where(
            CalcomWaiting.series == row.series, CalcomWaiting.email == row.email
        )
    )
    session.flush()


def forget_rejected(session: Session, key: str) -> bool:
    """The host turned a waiting series down (Cal.com rejects every occurrence at once)."""
    row = session.get(CalcomWaiting, key, with_for_update=True)
    if row is None:
        return False
    _forget_series(session, row)
    return True


def forget_cancelled(session: Session, key: str, payload: dict[str, Any]) -> bool:
    """A waiting occurrence was cancelled: with the series' rule ("all remaining"), all of them."""
    row = session.get(CalcomWaiting, key, with_for_update=True)
    if row is None:
        return False
    if _series(payload) is not None:
        _forget_series(session, row)
    else:
        session.delete(row)
        session.flush()
    return True


def forget_past(session: Session, *, now: datetime) -> int:
    """Forget occurrences whose time has passed undecided: they hold a name and an address."""
    result = session.execute(delete(CalcomWaiting).where(CalcomWaiting.starts_at < now))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
