"""Leads, visits, the outbox, results and admin pages in the studio."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.enrollments.models import Enrollment
from nurture.enrollments.service import enroll
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Suppression
from nurture.staff.models import ApiToken, AuditEntry, StaffUser
from tests.factories import make_lead
from tests.studio.conftest import Studio
from tests.studio.test_import_jobs import problem_rows

CSV_HEADER = "email,first_name,numbness_type,timezone,consent_at,consent_source\n"


def test_search_finds_leads_by_address_or_name(studio: Studio, session) -> None:
    make_lead(session, email_address="robin@example.com", first_name="Robin")
    make_lead(session, email_address="kim@example.com", first_name="Kim")
    session.commit()
    page = studio.get("/studio/leads?q=kim").text
    assert "kim@example.com" in page
    assert "robin@example.com" not in page
    assert "robin@example.com" in studio.get("/studio/leads?q=Robin").text
    assert "No lead matches" in studio.get("/studio/leads?q=nobody").text


def test_lead_page_shows_a_timeline_and_the_actions_work(
    studio: Studio, session, sequences_loaded
) -> None:
    lead = make_lead(session)
    session.add(ConsentRecord(lead_id=lead.id, text_version="v1", text="ok", source="landing"))
    enroll(session, lead=lead, now=clock.now())
    session.commit()
    page = studio.get(f"/studio/leads/{lead.id}").text
    assert "Consent given on landing (wording v1)" in page
    assert "Started" in page
    assert '<span class="badge pending">pending</span>' in page  # the first email, planned
    studio.post(f"/studio/leads/{lead.id}/action", {"action": "pause", "weeks": "2"})
    session.expire_all()
    assert session.get(Lead, lead.id).paused_until > clock.now() + timedelta(days=13)
    studio.post(f"/studio/leads/{lead.id}/action", {"action": "remove"})
    session.expire_all()
    assert session.scalar(select(Enrollment.exit_reason)) == "staff"
    studio.post(f"/studio/leads/{lead.id}/action", {"action": "unsubscribe"})
    session.expire_all()
    assert session.get(Lead, lead.id).status == LeadStatus.UNSUBSCRIBED
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"lead.pause", "lead.remove", "lead.unsubscribe"} <= actions


def test_deleting_a_lead_needs_its_address_typed_and_keeps_it_suppressed(
    studio: Studio, session
) -> None:
    lead_id = make_lead(session).id
    session.commit()
    response = studio.post(f"/studio/leads/{lead_id}/action", {"action": "delete"})
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Lead, lead_id) is not None
    studio.post(
        f"/studio/leads/{lead_id}/action",
        {"action": "delete", "confirm_email": "lead@example.com"},
    )
    session.expunge_all()
    assert session.get(Lead, lead_id) is None
    assert session.scalar(select(Suppression.email)) == "lead@example.com"


def test_an_admin_can_export_one_leads_data(admin_studio: Studio, session) -> None:
    lead = make_lead(session)
    session.commit()
    data = json.loads(admin_studio.get(f"/studio/leads/{lead.id}/export").text)
    assert data["lead"]["email"] == "lead@example.com"
    assert set(data) == {
        "lead",
        "type_changes",
        "consents",
        "emails",
        "events",
        "enrollments",
        "appointments",
    }


def test_csv_upload_imports_every_row_or_none(studio: Studio, session, sequences_loaded) -> None:
    from nurture.tasks import run_job

    def upload(body: str) -> str:
        response = studio.client.post(
            "/studio/leads/import",
            data={"csrftoken": studio.token},
            files={"file": ("leads.csv", body.encode(), "text/csv")},
            follow_redirects=False,
        )
        assert response.status_code == 303
        job_url = response.headers["location"]
        run_job(int(job_url.rsplit("/", 1)[1]))  # what the worker does with the queued job
        return studio.get(job_url).text

    bad = (
        CSV_HEADER
        + "a@example.com,A,chronic,,2026-01-01T10:00:00Z,old tool\nnot-an-email,B,acute,,,\n"
    )
    page = upload(bad)
    assert "Nothing was imported" in page
    assert problem_rows(page)[0][:2] == ("3", "email")
    assert session.scalar(select(func.count(Lead.id))) == 0
    good = (
        CSV_HEADER
        + "a@example.com,A,chronic,,2026-01-01T10:00:00Z,old tool\nb@example.com,B,acute,,,\n"
    )
    assert "Imported 2 new leads (1 with consent, 1 started on their sequence)" in upload(good)
    statuses = dict(session.execute(select(Lead.email, Lead.status)).all())
    assert statuses == {"a@example.com": "active", "b@example.com": "no_consent"}


def test_an_admin_exports_leads_and_consent_as_csv(admin_studio: Studio, session) -> None:
    lead = make_lead(session)
    session.add(ConsentRecord(lead_id=lead.id, text_version="v1", text="ok", source="landing"))
    session.commit()
    leads = list(csv.DictReader(io.StringIO(admin_studio.get("/studio/leads/export").text)))
    assert leads[0]["email"] == "lead@example.com"
    assert leads[0]["status"] == "active"
    consent = list(
        csv.DictReader(io.StringIO(admin_studio.get("/studio/admin/exports/consent").text))
    )
    assert consent[0]["text_version"] == "v1"


def test_staff_book_move_and_cancel_a_visit(studio: Studio, session, sequences_loaded) -> None:
    lead = make_lead(session, timezone="Europe/Berlin")
    enroll(session, lead=lead, now=clock.now())
    session.commit()
    when = (clock.now() + timedelta(days=5)).astimezone().strftime("%Y-%m-%dT10:30")
    bad = studio.post(
        f"/studio/leads/{lead.id}/appointments", {"starts_at": when, "timezone": "Nowhere/City"}
    )
    assert bad.status_code == 303
    assert session.scalar(select(func.count(Appointment.id))) == 0
    studio.post(
        f"/studio/leads/{lead.id}/appointments",
        {"starts_at": when, "timezone": "Europe/Berlin", "duration_minutes": "45"},
    )
    session.expire_all()
    visit = session.scalar(select(Appointment))
    assert visit.starts_at == datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert visit.duration_minutes == 45
    assert session.scalar(select(Enrollment.exit_reason)) == "booked"
    reminders = session.scalar(
        select(func.count(Message.id)).where(Message.appointment_id == visit.id)
    )
    assert reminders >= 2  # confirmation and reminders
    later = (clock.now() + timedelta(days=6)).astimezone().strftime("%Y-%m-%dT11:00")
    studio.post(f"/studio/leads/{lead.id}/appointments/{visit.id}/move", {"starts_at": later})
    session.expire_all()
    assert session.get(Appointment, visit.id).revision == 1
    studio.post(f"/studio/leads/{lead.id}/appointments/{visit.id}/cancel")
    session.expire_all()
    assert session.get(Appointment, visit.id).status == "cancelled"
    page = studio.get(f"/studio/leads/{lead.id}").text
    assert "Visit booked for" in page


def _sent_message(session, lead: Lead, status: str = MessageStatus.SENT) -> Message:
    enrollment = enroll(session, lead=lead, now=clock.now())
    message = session.scalar(select(Message).where(Message.enrollment_id == enrollment.id))
    message.status = status
    message.sent_at = clock.now() if status == MessageStatus.SENT else None
    message.subject = "Welcome"
    message.last_error = "SendGrid said no" if status == MessageStatus.FAILED else None
    session.commit()
    return message


def test_outbox_lists_by_status_shows_content_and_retries_failed(
    studio: Studio, session, sequences_loaded
) -> None:
    message = _sent_message(session, make_lead(session), MessageStatus.FAILED)
    page = studio.get("/studio/outbox?status=failed").text
    assert "failed (1)" in page
    assert "SendGrid said no" in page
    view = studio.get(f"/studio/outbox/{message.id}").text
    assert "Retry this email" in view
    assert "List-Unsubscribe" in view  # the headers it goes out with
    assert "/unsubscribe/" in view  # the rendered body
    studio.post(f"/studio/outbox/{message.id}/retry")
    session.expire_all()
    assert session.get(Message, message.id).status == MessageStatus.PENDING
    assert session.get(Message, message.id).attempts == 0
    again = studio.post(f"/studio/outbox/{message.id}/retry")
    assert again.status_code == 303
    assert "only failed emails are retried" in studio.get(again.headers["location"]).text


def test_outbox_resolves_an_unknown_email(studio: Studio, session, sequences_loaded) -> None:
    message = _sent_message(session, make_lead(session), MessageStatus.UNKNOWN)
    assert "The provider had it" in studio.get(f"/studio/outbox/{message.id}").text
    studio.post(f"/studio/outbox/{message.id}/resolve", {"outcome": "sent"})
    session.expire_all()
    assert session.get(Message, message.id).status == MessageStatus.SENT
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.resolve"))
    assert entry.after == {"status": "sent"}


def test_results_count_events_unsubscribes_and_bookings_per_step(
    studio: Studio, session, sequences_loaded
) -> None:
    now = clock.now()
    messages = [
        _sent_message(session, make_lead(session, email_address=f"r{i}@example.com"))
        for i in range(4)
    ]
    for i, (message, events) in enumerate(
        zip(
            messages,
            [("delivered", "open", "click"), ("delivered", "open"), ("bounce",), ("spamreport",)],
            strict=True,
        )
    ):
        for j, name in enumerate(events):
            session.add(
                DeliveryEvent(
                    provider_event_id=f"e{i}-{j}",
                    message_id=message.id,
                    event=name,
                    occurred_at=now,
                )
            )
    session.add(
        Appointment(
            lead_id=messages[0].lead_id,
            starts_at=now + timedelta(days=9),
            timezone="Europe/Berlin",
            created_at=now + timedelta(days=2),
        )
    )
    session.add(  # booked too late to count within 7 days
        Appointment(
            lead_id=messages[1].lead_id,
            starts_at=now + timedelta(days=20),
            timezone="Europe/Berlin",
            created_at=now + timedelta(days=10),
        )
    )
    session.commit()
    page = studio.get("/studio/results/chronic-basics?days=7").text
    row = page[page.index("welcome") :].split("</tr>")[0]
    numbers = re.findall(r'<td class="num">(\d+)', row)
    # sent, delivered, opened, clicked, unsubscribed, bounced, complained, booked
    assert numbers == ["4", "2", "2", "1", "0", "1", "1", "1"]
    assert "<svg" in page
    # Only scripts from files: the policy would refuse pygal's inline config script.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "privacy proxies" in page
    wider = studio.get("/studio/results/chronic-basics?days=30").text
    row = wider[wider.index("welcome") :].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)', row)[-1] == "2"


def test_admin_manages_staff_and_api_tokens(admin_studio: Studio, session) -> None:
    response = admin_studio.post(
        "/studio/admin/staff",
        {"email": "new@clinic.example", "password": "short", "role": "editor"},
    )
    assert response.status_code == 303
    assert session.scalar(select(func.count(StaffUser.id))) == 1  # refused: too short
    admin_studio.post(
        "/studio/admin/staff",
        {"email": "new@clinic.example", "password": "a long enough password", "role": "editor"},
    )
    member = session.scalar(select(StaffUser).where(StaffUser.email == "new@clinic.example"))
    admin_studio.post(f"/studio/admin/staff/{member.id}", {"action": "role", "role": "admin"})
    session.expire_all()
    assert session.get(StaffUser, member.id).role == "admin"
    admin_studio.post("/studio/admin/tokens", {"name": "booking"})
    page = admin_studio.get("/studio/admin").text
    token = re.search(r"<pre>(nrt_[^<]+)</pre>", page)
    assert token is not None
    assert "nrt_" not in admin_studio.get("/studio/admin").text  # shown once
    admin_studio.post("/studio/admin/tokens/revoke", {"name": "booking"})
    session.expire_all()
    assert session.scalar(select(ApiToken.revoked_at)) is not None
    assert "(secret, set)" in page  # the secret key is never shown
