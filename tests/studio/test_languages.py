"""Staff see, filter by and change a person's language, in their own words."""

from __future__ import annotations

from sqlalchemy import select

from nurture.leads.models import Lead
from nurture.staff.models import AuditEntry
from tests.factories import make_lead
from tests.studio.conftest import Studio


def test_people_list_shows_and_filters_by_language(studio: Studio, session) -> None:
    make_lead(session, email_address="ana@example.com", language="es")
    make_lead(session, email_address="bo@example.com")
    session.commit()
    everyone = studio.get("/studio/leads").text
    assert '<label for="language">Language</label>' in everyone
    assert "<td>Spanish</td>" in everyone
    spanish = studio.get("/studio/leads?language=es").text
    assert "ana@example.com" in spanish
    assert "bo@example.com" not in spanish
    assert "language: Spanish" in spanish
    wrong = studio.get("/studio/leads?language=klingon").text
    assert "Language: pick one of the clinic&#39;s languages." in wrong


def test_person_page_shows_and_changes_the_language_audit_logged(studio: Studio, session) -> None:
    lead = make_lead(session, email_address="ana@example.com", language="es")
    session.commit()
    assert "Language: Spanish" in studio.get(f"/studio/leads/{lead.id}").text
    studio.post(f"/studio/leads/{lead.id}/action", {"action": "language", "language": "en"})
    session.expire_all()
    assert session.get(Lead, lead.id).language == "en"
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "lead.language"))
    assert (entry.before or {})["language"] == "es"
    assert (entry.after or {})["language"] == "en"
    studio.post(f"/studio/leads/{lead.id}/action", {"action": "language", "language": "xx"})
    session.expire_all()
    assert session.get(Lead, lead.id).language == "en"
