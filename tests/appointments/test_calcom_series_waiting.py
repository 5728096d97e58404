"""A recurring series on an event type that needs the host's confirmation.

Payloads are built from Cal.com's source (calcom/cal.com):
- the requests: packages/features/bookings/lib/handleNewRecurringBooking.ts runs
  handleNewBooking once per date of the series; packages/features/bookings/lib/handleNewBooking.ts
  (and, in later versions, service/RegularBookingService.ts) sends BOOKING_REQUESTED from each
  run that is not confirmed by default: the CalendarEvent of that occurrence (its own `uid`,
  `startTime`, `recurringEvent` {freq, count, interval}) with status PENDING;
- the host's decision: packages/features/bookings/lib/handleConfirmation.ts marks every pending
  booking of the series ACCEPTED but sends one BOOKING_CREATED, built from the booking
  confirmed (its uid and startTime, with `recurringEvent`); a rejection sends one
  BOOKING_REJECTED (packages/trpc/server/routers/viewer/bookings/confirm.handler.ts);
- a cancel without "all remaining" carries no `recurringEvent`
  (packages/features/bookings/lib/handleCancelBooking.ts).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from nurture.appointments import calcom_series
from nurture.appointments.models import CalcomWaiting
from nurture.leads.erasure import erase
from nurture.outbox.models import Message
from tests.appointments.test_calcom import SECRET, T0, VISIT, booking
from tests.appointments.test_calcom_shapes import WEEKLY, pending, post, visits
from tests.factories import make_lead


@pytest.fixture(autouse=True)
def calcom(settings):  # type: ignore[no-untyped-def]
    settings(calcom_webhook_secret=SECRET)


ASKED = T0 + timedelta(minutes=5)
CONFIRMED = T0 + timedelta(minutes=30)


def _occurrence(n: int, **extra: Any) -> dict[str, Any]:
    start = extra.pop("start", VISIT + timedelta(weeks=n))
    return booking(f"r{n}", start, recurringEvent=WEEKLY, **extra)


def _request(n: int, **extra: Any) -> dict[str, Any]:
    """One occurrence's BOOKING_REQUESTED, as handleNewBooking sends it for each date."""
    return _occurrence(n, status="PENDING", requiresConfirmation=True, **extra)


def _ask(client, n: int = 3, **starts: Any) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        extra = {"start": starts[f"r{i}"]} if f"r{i}" in starts else {}
        asked = post(
            client, "BOOKING_REQUESTED", _request(i, **extra), ASKED + timedelta(seconds=i)
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "requested"


def _confirm(client, n: int = 0, **extra: Any):  # type: ignore[no-untyped-def]
    """handleConfirmation's single BOOKING_CREATED for the whole series."""
    return post(
        client, "BOOKING_CREATED", _occurrence(n, requiresConfirmation=True, **extra), CONFIRMED
    )


def _waiting(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(func.count()).select_from(CalcomWaiting)) or 0


def test_a_confirmed_series_becomes_a_visit_each_with_its_reminders(client, session) -> None:
    _ask(client)
    # Until the host confirms, nothing is booked and nobody is reminded.
    assert visits(session) == []
    assert _waiting(session) == 3
    confirmed = _confirm(client)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "booked"
    assert len(confirmed.json()["series_booked"]) == 2
    booked = visits(session)
    assert [(v.external_id, v.starts_at, v.status) for v in booked] == [
        (f"calcom:r{n}", VISIT + timedelta(weeks=n), "booked") for n in range(3)
    ]
    assert len({v.series for v in booked}) == 1
    # Each occurrence has the reminders a visit booked on its own would have.
    plans = [pending(session, v) for v in booked]
    assert plans[0]
    assert plans == [plans[0]] * 3
    assert _waiting(session) == 0


def test_a_replayed_confirmation_or_request_changes_nothing(client, session) -> None:
    _ask(client)
    _confirm(client)
    before = [(v.id, v.revision, v.starts_at) for v in visits(session)]
    messages = session.scalar(select(func.count()).select_from(Message))
    again = _confirm(client)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "unchanged"
    assert "series_booked" not in again.json()
    for n in range(3):
        old = post(client, "BOOKING_REQUESTED", _request(n), ASKED + timedelta(seconds=n))
        assert old.json()["status"] == "unchanged"
    assert [(v.id, v.revision, v.starts_at) for v in visits(session)] == before
    assert session.scalar(select(func.count()).select_from(Message)) == messages
    assert _waiting(session) == 0


def test_a_rejected_series_gives_no_visits(client, session) -> None:
    _ask(client)
    rejection = _occurrence(
        0, status="REJECTED", requiresConfirmation=True, rejectionReason="Those weeks are full"
    )
    rejected = post(client, "BOOKING_REJECTED", rejection, CONFIRMED)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert visits(session) == []
    assert _waiting(session) == 0
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_an_occurrence_past_at_confirmation_is_not_booked(client, session) -> None:
    # The clock of these requests is T0 + 1h: the first date has gone by when the host confirms.
    _ask(client, r0=T0 + timedelta(minutes=40))
    confirmed = _confirm(client, 1)
    assert confirmed.status_code == 200, confirmed.text
    assert [v.external_id for v in visits(session)] == ["calcom:r1", "calcom:r2"]
    assert _waiting(session) == 0


def test_a_cancelled_waiting_occurrence_is_not_booked(client, session) -> None:
    _ask(client)
    cancel = _occurrence(1, status="CANCELLED")
    del cancel["recurringEvent"]  # one occurrence, not "all remaining"
    cancelled = post(client, "BOOKING_CANCELLED", cancel, ASKED + timedelta(minutes=1))
    assert cancelled.status_code == 200, cancelled.text
    assert visits(session) == []
    _confirm(client)
    assert [v.external_id for v in visits(session)] == ["calcom:r0", "calcom:r2"]


def test_a_single_booking_waiting_for_the_host_is_booked_by_its_confirmation(
    client, session
) -> None:
    request = booking("one", VISIT, status="PENDING", requiresConfirmation=True)
    asked = post(client, "BOOKING_REQUESTED", request, ASKED)
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "ignored"
    assert visits(session) == []
    assert _waiting(session) == 0
    confirmed = post(client, "BOOKING_CREATED", booking("one", VISIT), CONFIRMED)
    assert confirmed.json()["status"] == "booked"
    [visit] = visits(session)
    assert visit.external_id == "calcom:one"
    assert pending(session, visit)


def test_cancelling_all_remaining_while_waiting_forgets_the_series(client, session) -> None:
    _ask(client)
    cancel = _occurrence(0, status="CANCELLED", cancelledBy="cal@example.com")
    cancelled = post(client, "BOOKING_CANCELLED", cancel, ASKED + timedelta(minutes=1))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "ignored"
    assert _waiting(session) == 0
    assert visits(session) == []


def test_waiting_requests_hold_no_address_past_their_time_or_an_erasure(client, session) -> None:
    """They carry a name and an address before any visit exists: both go when they must."""
    _ask(client)
    lead = make_lead(session, email_address="Cal@Example.com")
    session.commit()
    erase(session, lead=lead, now=CONFIRMED)
    session.commit()
    assert _waiting(session) == 0

    _ask(client)
    # Undecided until every date has passed: the sweep that purges unconfirmed signups forgets them.
    assert calcom_series.forget_past(session, now=VISIT + timedelta(weeks=1, hours=1)) == 2
    session.commit()
    assert _waiting(session) == 1
    assert calcom_series.forget_past(session, now=VISIT + timedelta(weeks=3)) == 1
    session.commit()
    assert _waiting(session) == 0
