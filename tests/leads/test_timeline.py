"""A lead's timeline names what happened in words: types, emails, steps, visits, never ids."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock
from nurture.enrollments.service import enroll, exit_active
from nurture.leads import preference_changes, service
from nurture.leads.imports import import_file
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.schemas import SubscribeRequest
from nurture.leads.timeline import timeline
from nurture.outbox.models import DeliveryEvent, Message
from tests.factories import make_lead

CHRONIC = "Numbness that has lasted a long time"
# What must never show: step keys, template names, reminder keys, ids.
INTERNAL = re.compile(r"appointment_|reminder_|@r\d|\bstep \d|\bwelcome\b|/step-|_\w+h\b")


def summaries(session, lead: Lead) -> list[str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    found = [e.summary for e in timeline(session, session.get(Lead, lead.id))]
    assert not [s for s in found if INTERNAL.search(s)], found
    return found


def signup(session, email: str = "robin@example.com", kind: str = "chronic") -> Lead:  # type: ignore[no-untyped-def]
    request = SubscribeRequest(email=email, first_name="Robin", numbness_type=kind, consent=True)
    service.subscribe(session, request=request, meta=service.SignupMeta("/"), now=clock.now())
    lead = session.scalar(select(Lead).where(Lead.email == email))
    assert lead is not None
    return lead


def test_the_signup_type_and_each_change_are_told(session, sequences_loaded) -> None:
    lead = signup(session)
    # Signing up again before confirming: the latest form wins, and says so.
    signup(session, kind="acute")
    lead.status = LeadStatus.ACTIVE
    later = clock.now() + timedelta(minutes=5)
    preference_changes.update_preferences(
        session, lead=lead, now=later, numbness_type="intermittent"
    )
    session.commit()
    found = summaries(session, lead)
    assert found[-1] == "Signed up as chronic numbness"
    assert "Changed type from chronic to acute by signing up again" in found
    assert "Changed type from acute to intermittent on their preferences page" in found
    assert found.index("Changed type from acute to intermittent on their preferences page") < (
        found.index("Changed type from chronic to acute by signing up again")
    )  # newest first


def test_a_lead_from_before_the_history_says_signed_up_without_a_type(session) -> None:
    lead = make_lead(session)
    session.commit()
    assert summaries(session, lead) == ["Signed up"]


def test_imported_and_booked_leads_say_how_they_came(session) -> None:
    header = "email,first_name,numbness_type,timezone,consent_at,consent_source\n"
    import_file(session, fh=io.StringIO(header + "a@example.com,A,acute,,,\n"), now=clock.now())
    start = clock.now() + timedelta(days=3)
    appointments.book(
        session,
        data=AppointmentIn(email="b@example.com", starts_at=start, timezone="Europe/Berlin"),
        now=clock.now(),
    )
    session.commit()
    imported = session.scalar(select(Lead).where(Lead.email == "a@example.com"))
    booked = session.scalar(select(Lead).where(Lead.email == "b@example.com"))
    assert summaries(session, imported) == ["Imported as acute numbness"]
    assert summaries(session, booked)[-1] == "Added when a visit was booked for them"


def test_drip_emails_their_events_and_leaving_are_named_in_words(session, sequences_loaded) -> None:
    lead = make_lead(session, first_name="Robin")
    enroll(session, lead=lead, now=clock.now())
    message = session.scalar(select(Message).where(Message.lead_id == lead.id))
    session.add(
        DeliveryEvent(
            provider_event_id="ev-1", message_id=message.id, event="open", occurred_at=clock.now()
        )
    )
    exit_active(session, lead_id=lead.id, reason="staff", at=clock.now() + timedelta(seconds=1))
    session.commit()
    found = summaries(session, lead)
    email = f"{CHRONIC} · Email 1: 'Welcome, Robin: your first short read'"
    assert email in found
    assert f"Opened: {email}" in found
    assert f"Started {CHRONIC}" in found
    assert f"Left {CHRONIC}: removed by staff" in found
    # Once sent, the subject the lead actually got is shown.
    message.subject = "Welcome, Robin!"
    session.commit()
    assert f"{CHRONIC} · Email 1: 'Welcome, Robin!'" in summaries(session, lead)


def test_visit_emails_name_the_visit_and_its_time(session) -> None:
    zone = ZoneInfo("Europe/Berlin")
    day = (clock.now() + timedelta(days=10)).astimezone(zone).date()
    start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=zone)
    booked = appointments.book(
        session,
        data=AppointmentIn(email="v@example.com", starts_at=start, timezone="Europe/Berlin"),
        now=clock.now(),
    ).appointment
    session.commit()
    when = f"{start:%a} {start.day} {start:%b}, 10:00"
    lead = session.get(Lead, booked.lead_id)
    found = summaries(session, lead)
    assert f"Visit booked for {when} (Europe/Berlin)" in found
    assert f"Booking confirmation for the visit on {when}" in found
    assert f"Reminder for the visit on {when} (48 hours before)" in found
    assert f"Reminder for the visit on {when} (2 hours before)" in found
    assert f"Request to confirm they will come to the visit on {when}" in found
    moved = start + timedelta(days=1)
    appointments.reschedule(
        session, appointment=booked, patch=AppointmentPatch(starts_at=moved), now=clock.now()
    )
    session.commit()
    new_when = f"{moved:%a} {moved.day} {moved:%b}, 10:00"
    found = summaries(session, lead)
    assert f"Notice that the visit moved to {new_when}" in found
    assert f"Reminder for the visit on {new_when} (2 hours before)" in found
    assert (
        f"Reminder for the visit on {new_when} (2 hours before), planned before the visit changed"
        in found
    )


def test_transactional_emails_are_named(session) -> None:
    lead = signup(session)
    service.unsubscribe(session, lead=lead, now=clock.now())
    lead.status = LeadStatus.ACTIVE  # the goodbye only goes to someone who was subscribed
    service.unsubscribe(session, lead=lead, now=clock.now())
    session.commit()
    found = summaries(session, lead)
    assert "Email asking them to confirm their address" in found
    assert "Email confirming they unsubscribed" in found
    assert "Consent given on / (wording 2026-11-v1)" in found
