"""Cal.com events about bookings that wait or that were never seen here.

Payloads are built from Cal.com's source (calcom/cal.com):
- BOOKING_REQUESTED of a reschedule: packages/features/bookings/lib/handleNewBooking.ts (the
  webhook data of a booking that needs confirmation carries `rescheduleUid` and status
  PENDING; the original booking stays accepted until the host decides);
- the host's decision: packages/trpc/server/routers/viewer/bookings/confirm.handler.ts (a
  confirmation runs handleConfirmation, whose BOOKING_CREATED carries no `rescheduleUid`; a
  rejection sends BOOKING_REJECTED with the CalendarEvent of the pending booking (`uid`,
  times, attendees), the event type's info, `bookingId`, `status: "REJECTED"` and
  `rejectionReason`);
- BOOKING_NO_SHOW_UPDATED: packages/features/handleMarkNoShow.ts (the payload is
  `{attendees: [{email, noShow}], message, bookingUid, bookingId}`: no times, no names; a mark
  is refused before the visit has begun);
- AFTER_GUESTS_CAL_VIDEO_NO_SHOW: packages/features/tasker/tasks/triggerNoShow/common.ts
  (bookingUid, startTime, endTime, attendees with name, email and timeZone, participants).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageStatus
from tests.appointments.test_calcom import SECRET, T0, VISIT, booking
from tests.appointments.test_calcom_shapes import _no_show_journey, guests_missing, post, visits


@pytest.fixture(autouse=True)
def calcom(settings):  # type: ignore[no-untyped-def]
    settings(calcom_webhook_secret=SECRET)


def _reminders(session) -> list[tuple[int, datetime]]:  # type: ignore[no-untyped-def]
    """(visit, due time) of every reminder still waiting to go."""
    session.expire_all()
    rows = session.scalars(
        select(Message).where(
            Message.status == MessageStatus.PENDING, Message.reminder.like("%h@r%")
        )
    )
    return sorted((m.appointment_id, m.due_at) for m in rows)


def _rejected(uid: str, start: datetime) -> dict[str, Any]:
    """BOOKING_REJECTED's payload: the pending booking's event, as confirm.handler.ts sends it."""
    payload = booking(uid, start, status="REJECTED", requiresConfirmation=True)
    payload["rejectionReason"] = "That afternoon is fully booked"
    payload["smsReminderNumber"] = None
    return payload


LATER = VISIT + timedelta(days=2)


def _request(uid: str = "u2", replaces: str = "u1") -> dict[str, Any]:
    return booking(uid, LATER, status="PENDING", requiresConfirmation=True, rescheduleUid=replaces)


def test_a_move_waiting_for_the_host_keeps_the_visit_and_its_reminders(client, session) -> None:
    assert post(client, "BOOKING_CREATED", booking("u1", VISIT), T0).json()["status"] == "booked"
    [visit] = visits(session)
    before = _reminders(session)
    assert before
    assert {v for v, _ in before} == {visit.id}
    asked = post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10))
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "requested"
    # Until the host decides, the patient's visit is the one they have, reminded as before.
    [still] = visits(session)
    assert (still.id, still.external_id, still.starts_at) == (visit.id, "calcom:u1", VISIT)
    assert (still.status, still.revision) == ("booked", 0)
    assert _reminders(session) == before
    # The host confirms: the visit moves to the new time, and only it is reminded.
    confirmed = post(client, "BOOKING_CREATED", booking("u2", LATER), T0 + timedelta(minutes=20))
    assert confirmed.json()["status"] == "rescheduled"
    [moved] = visits(session)
    assert (moved.id, moved.external_id, moved.starts_at) == (visit.id, "calcom:u2", LATER)
    after = _reminders(session)
    assert after
    # Planned anew from the new time: none of the old time's reminders is left.
    assert {due for _, due in after}.isdisjoint({due for _, due in before})
    assert max(due for _, due in after) > VISIT


def test_a_confirmed_move_that_overtakes_its_request_leaves_one_visit(client, session) -> None:
    """Each webhook travels on its own: the host's confirmation (BOOKING_CREATED for the new
    uid, without `rescheduleUid`) may arrive before the request that names the old booking."""
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    confirmed = post(client, "BOOKING_CREATED", booking("u2", LATER), T0 + timedelta(minutes=20))
    assert confirmed.json()["status"] == "booked"
    late = post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10))
    assert late.status_code == 200, late.text
    old, new = visits(session)
    assert (old.external_id, old.status) == ("calcom:u1", "cancelled")
    assert (new.external_id, new.status, new.starts_at) == ("calcom:u2", "booked", LATER)
    assert {v for v, _ in _reminders(session)} == {new.id}
    # The patient moved it themselves: no cancellation notice for the old time.
    templates = {m.template for m in session.scalars(select(Message))}
    assert "appointment_cancellation" not in templates


def test_a_move_the_host_rejects_leaves_the_visit_as_it_was(client, session) -> None:
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    [visit] = visits(session)
    before = _reminders(session)
    post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10))
    rejected = post(client, "BOOKING_REJECTED", _rejected("u2", LATER), T0 + timedelta(minutes=30))
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    [kept] = visits(session)
    assert (kept.external_id, kept.starts_at, kept.status) == ("calcom:u1", VISIT, "booked")
    assert kept.revision == 0
    assert _reminders(session) == before
    # No notice of a move or a cancellation went to the patient.
    templates = {m.template for m in session.scalars(select(Message))}
    assert "appointment_update" not in templates
    assert "appointment_cancellation" not in templates
    # The old booking still behaves as the patient's one visit.
    cancel = booking("u1", VISIT, status="CANCELLED")
    assert post(client, "BOOKING_CANCELLED", cancel, T0 + timedelta(hours=1)).json()["status"] == (
        "cancelled"
    )


def test_a_rejected_move_that_came_before_its_booking_leaves_that_booking(client, session) -> None:
    post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10))
    assert visits(session) == []
    post(client, "BOOKING_REJECTED", _rejected("u2", LATER), T0 + timedelta(minutes=30))
    original = post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    assert original.json()["status"] == "booked"
    [visit] = visits(session)
    assert (visit.external_id, visit.starts_at, visit.status) == ("calcom:u1", VISIT, "booked")
    assert {v for v, _ in _reminders(session)} == {visit.id}


def test_a_move_withdrawn_by_the_patient_leaves_the_visit(client, session) -> None:
    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    before = _reminders(session)
    post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10))
    withdrawn = booking("u2", LATER, status="CANCELLED", cancellationReason="never mind")
    assert (
        post(client, "BOOKING_CANCELLED", withdrawn, T0 + timedelta(minutes=15)).status_code == 200
    )
    [visit] = visits(session)
    assert (visit.external_id, visit.status) == ("calcom:u1", "booked")
    assert _reminders(session) == before
    assert list(session.scalars(select(Enrollment))) == []


def test_a_rejection_of_a_new_booking_waiting_for_the_host_changes_nothing(client, session) -> None:
    post(client, "BOOKING_REQUESTED", booking("u9", VISIT, status="PENDING"), T0)
    rejected = post(client, "BOOKING_REJECTED", _rejected("u9", VISIT), T0 + timedelta(minutes=5))
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "ignored"
    assert visits(session) == []


# --- no-shows of bookings never seen here ----------------------------------------------------


def _journeys(session) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.execute(
        select(Lead.email, Enrollment.status).join(Enrollment, Enrollment.lead_id == Lead.id)
    ).all()
    return sorted((e, s) for e, s in rows)


def test_a_host_marks_a_no_show_of_a_booking_never_seen_here(client, session) -> None:
    _no_show_journey(session)
    marked_at = VISIT + timedelta(hours=1)
    marked = {
        "attendees": [{"email": "Cal@Example.com", "noShow": True}],
        "message": "Cal@Example.com marked as no-show",
        "bookingUid": "lost-1",
        "bookingId": 3001,
    }
    response = post(client, "BOOKING_NO_SHOW_UPDATED", marked, marked_at, at=marked_at)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "no_show"
    [visit] = visits(session)
    assert (visit.external_id, visit.status) == ("calcom:lost-1", "no_show")
    # The mark is the latest the visit can have begun: its time stands in for the start.
    assert visit.starts_at == marked_at
    assert _journeys(session) == [("cal@example.com", "active")]
    # The booking's own event, arriving late, neither books nor re-opens it.
    late = post(client, "BOOKING_CREATED", booking("lost-1", VISIT), T0, at=marked_at)
    assert late.json()["status"] == "ignored"
    [same] = visits(session)
    assert same.status == "no_show"
    assert _reminders(session) == []


def test_an_unmarked_no_show_of_a_booking_never_seen_here_starts_nothing(client, session) -> None:
    _no_show_journey(session)
    cleared = {
        "attendees": [{"email": "cal@example.com", "noShow": False}],
        "message": "cal@example.com unmarked as no-show",
        "bookingUid": "lost-2",
        "bookingId": 3002,
    }
    at = VISIT + timedelta(hours=1)
    response = post(client, "BOOKING_NO_SHOW_UPDATED", cleared, at, at=at)
    assert response.json()["status"] == "ignored"
    assert visits(session) == []
    assert _journeys(session) == []


def test_a_no_show_mark_taken_back_ends_the_we_missed_you_journey(client, session) -> None:
    """handleMarkNoShow.ts sends the same trigger with `noShow: false` when the host un-marks."""
    _no_show_journey(session)
    post(client, "BOOKING_CREATED", booking("u7", VISIT), T0)
    after = VISIT + timedelta(hours=1)
    person = {"email": "cal@example.com", "noShow": True}
    marked = {"bookingUid": "u7", "bookingId": 1007, "attendees": [person]}
    assert post(client, "BOOKING_NO_SHOW_UPDATED", marked, after, at=after).json()["status"] == (
        "no_show"
    )
    assert _journeys(session) == [("cal@example.com", "active")]
    later = after + timedelta(minutes=10)
    cleared = {**marked, "attendees": [{**person, "noShow": False}]}
    response = post(client, "BOOKING_NO_SHOW_UPDATED", cleared, later, at=later)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "no_show_cleared"
    [visit] = visits(session)
    assert visit.status == "booked"  # past and booked: it took place
    assert _journeys(session) == [("cal@example.com", "exited")]
    unsent = session.scalars(
        select(Message).where(Message.enrollment_id.is_not(None), Message.status == "pending")
    ).all()
    assert unsent == []


def test_cal_video_reports_a_missed_visit_never_seen_here_with_its_time(client, session) -> None:
    _no_show_journey(session)
    after = VISIT + timedelta(minutes=15)
    guest = guests_missing("lost-3", 3003)
    response = post(client, "AFTER_GUESTS_CAL_VIDEO_NO_SHOW", guest, after, at=after)
    assert response.status_code == 200, response.text
    [visit] = visits(session)
    assert (visit.status, visit.starts_at, visit.duration_minutes) == ("no_show", VISIT, 45)
    assert visit.timezone == "Europe/Berlin"
    assert _journeys(session) == [("cal@example.com", "active")]


def test_a_no_show_of_an_old_visit_never_seen_here_is_history(client, session) -> None:
    _no_show_journey(session)
    at = VISIT + timedelta(days=30)
    guest = {
        "bookingUid": "lost-4",
        "startTime": VISIT.astimezone(UTC).isoformat(),
        "endTime": (VISIT + timedelta(minutes=45)).astimezone(UTC).isoformat(),
        "attendees": [{"name": "Cal Doe", "email": "cal@example.com", "timeZone": "Europe/Berlin"}],
        "participants": [],
    }
    response = post(client, "AFTER_GUESTS_CAL_VIDEO_NO_SHOW", guest, at, at=at)
    assert response.status_code == 200, response.text
    [visit] = visits(session)
    assert visit.status == "no_show"
    assert _journeys(session) == []


def test_two_copies_of_one_request_at_once_store_it_once(client, session, monkeypatch) -> None:
    """The second copy reads no row (the first commits just after), then finds it on insert."""
    from sqlalchemy.orm import Session as OrmSession

    from nurture.appointments.models import CalcomRequest

    post(client, "BOOKING_CREATED", booking("u1", VISIT), T0)
    assert (
        post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=10)).status_code == 200
    )
    real_get = OrmSession.get

    def unseen(self, entity, ident, **kw):  # type: ignore[no-untyped-def]
        return None if entity is CalcomRequest else real_get(self, entity, ident, **kw)

    monkeypatch.setattr(OrmSession, "get", unseen)
    again = post(client, "BOOKING_REQUESTED", _request(), T0 + timedelta(minutes=11))
    monkeypatch.undo()
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "unchanged"
    session.expire_all()
    [row] = session.scalars(select(CalcomRequest))
    assert (row.external_id, row.replaces) == ("calcom:u2", "calcom:u1")
    # The confirmation still finds it.
    confirmed = post(client, "BOOKING_CREATED", booking("u2", LATER), T0 + timedelta(minutes=20))
    assert confirmed.json()["status"] == "rescheduled"
