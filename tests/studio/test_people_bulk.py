"""The leads list: filters in the address, paging that keeps them, and actions on many leads."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import func, select

from nurture.core import clock
from nurture.delivery.models import Message, MessageStatus
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.enrollments.service import enroll
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.studio import people_list
from nurture.studio.models import AuditEntry
from tests.factories import make_lead
from tests.studio.conftest import Studio

_ROW = re.compile(r'<input type="checkbox" name="lead" value="(\d+)" form="bulk"')


def listed(page: str) -> list[int]:
    """The ids of the leads a list page shows."""
    return [int(i) for i in _ROW.findall(page)]


def leads(session, count: int, *, prefix: str, **fields) -> list[int]:  # type: ignore[no-untyped-def]
    made = [
        make_lead(session, email_address=f"{prefix}{i}@example.com", **fields).id
        for i in range(count)
    ]
    session.commit()
    return made


def audit_entries(session, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_filters_live_in_the_address_with_a_count_and_paging_that_keeps_them(
    studio: Studio, session
) -> None:
    leads(session, 55, prefix="c", numbness_type="chronic")
    leads(session, 2, prefix="a", numbness_type="acute")
    leads(session, 1, prefix="u", numbness_type="chronic", status=LeadStatus.UNSUBSCRIBED)
    first = studio.get("/studio/leads?numbness_type=chronic&status=active")
    assert first.status_code == 200
    assert "55 leads: Chronic leads, subscribed" in first.text
    assert len(listed(first.text)) == 50
    assert 'name="numbness_type" value="chronic" checked' in first.text
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    assert older.group(1) == ("/studio/leads?numbness_type=chronic&amp;status=active&amp;offset=50")
    second = studio.get(older.group(1).replace("&amp;", "&")).text
    assert len(listed(second)) == 5
    assert "showing 51–55" in second
    assert 'rel="prev"' in second
    # The filter rides along in the bulk form, for "all matching".
    assert '<input type="hidden" name="numbness_type" value="chronic">' in second
    searched = studio.get("/studio/leads?q=a1%40example&numbness_type=acute").text
    assert "1 lead: Acute leads, matching “a1@example”" in searched
    everyone = studio.get("/studio/leads").text
    assert '58 leads <span class="muted">(showing 1–50)</span>' in everyone


def test_a_filter_with_mistakes_lists_nothing_and_says_what_to_fix(studio: Studio, session) -> None:
    leads(session, 2, prefix="c")
    response = studio.get("/studio/leads?signed_up_from=yesterday&booked=maybe")
    assert response.status_code == 400
    assert "Signed up from: enter a date as YYYY-MM-DD" in response.text
    assert "Booked: choose yes, no or either." in response.text
    assert listed(response.text) == []
    assert 'id="bulk"' not in response.text
    assert 'aria-invalid="true" aria-describedby="signed_up_from-error"' in response.text


def test_a_bulk_pause_of_everyone_matching_is_one_change_with_an_undo(
    studio: Studio, session
) -> None:
    chronic = leads(session, 3, prefix="c", numbness_type="chronic")
    acute = leads(session, 1, prefix="a", numbness_type="acute")
    response = studio.post(
        "/studio/leads/bulk",
        {"action": "pause", "weeks": "2", "scope": "all", "numbness_type": "chronic"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/studio/leads?numbness_type=chronic"
    page = studio.get(response.headers["location"]).text
    assert "Paused 3 leads until" in page
    session.expire_all()
    paused = {lead.id for lead in session.scalars(select(Lead)) if lead.paused_until}
    assert paused == set(chronic)
    (entry,) = audit_entries(session, "leads.bulk_pause")
    assert entry.target == "3 leads"
    assert entry.after["count"] == 3
    assert entry.after["picked"] == "Chronic leads"
    # Each active lead is told, as when one lead is paused.
    notices = session.scalar(
        select(func.count(Message.id)).where(Message.template == "preferences_changed")
    )
    assert notices == 3

    undo = f"/studio/leads/bulk/undo/{entry.id}"
    assert f'action="{undo}"' in page
    studio.post(undo)
    session.expire_all()
    assert all(session.get(Lead, i).paused_until is None for i in chronic + acute)
    assert audit_entries(session, "leads.bulk_resume")[0].after["count"] == 3
    again = studio.post(undo)
    assert "Nothing to undo" in studio.get(again.headers["location"]).text


def test_ticked_leads_leave_the_chosen_sequence_only(
    studio: Studio, session, sequences_loaded
) -> None:
    chronic = make_lead(session, email_address="c@example.com", numbness_type="chronic")
    acute = make_lead(session, email_address="a@example.com", numbness_type="acute")
    for lead in (chronic, acute):
        enroll(session, lead=lead, now=clock.now())
    session.commit()
    page = studio.get("/studio/leads").text
    assert 'data-confirm="Take the chosen leads out of this sequence?' in page
    unchosen = studio.post(
        "/studio/leads/bulk", {"action": "remove", "lead": [str(chronic.id), str(acute.id)]}
    )
    assert "choose the sequence" in studio.get(unchosen.headers["location"]).text
    response = studio.post(
        "/studio/leads/bulk",
        {
            "action": "remove",
            "from_sequence": "chronic-basics",
            "scope": "ticked",
            "lead": [str(chronic.id), str(acute.id)],
        },
    )
    assert (
        "Removed 1 lead from Numbness that has lasted a long time; their unsent emails from it "
        "are cancelled. 1 was not in it."
    ) in studio.get(response.headers["location"]).text
    session.expire_all()
    states = dict(session.execute(select(Enrollment.lead_id, Enrollment.status)).all())
    assert states == {chronic.id: EnrollmentStatus.EXITED, acute.id: EnrollmentStatus.ACTIVE}
    statuses = dict(session.execute(select(Message.lead_id, Message.status)).all())
    assert statuses == {chronic.id: MessageStatus.CANCELLED, acute.id: MessageStatus.PENDING}
    (entry,) = audit_entries(session, "leads.bulk_remove")
    assert entry.after["removed"] == 1


def test_a_bulk_unsubscribe_does_what_the_single_action_does(studio: Studio, session) -> None:
    ids = leads(session, 2, prefix="c")
    for lead_id in ids:
        session.add(ConsentRecord(lead_id=lead_id, text_version="v1", text="ok", source="form"))
    other = leads(session, 1, prefix="o")
    session.commit()
    page = studio.get("/studio/leads").text
    assert 'value="unsubscribe" class="danger" data-confirm="Unsubscribe the chosen leads?' in page
    nothing = studio.post("/studio/leads/bulk", {"action": "unsubscribe"})
    assert (
        "Nothing was done: tick leads in the list" in studio.get(nothing.headers["location"]).text
    )
    studio.post("/studio/leads/bulk", {"action": "unsubscribe", "lead": [str(i) for i in ids]})
    session.expire_all()
    for lead_id in ids:
        lead = session.get(Lead, lead_id)
        assert lead.status == LeadStatus.UNSUBSCRIBED
        assert all(c.withdrawn_at is not None for c in lead.consents)
    assert session.get(Lead, other[0]).status == LeadStatus.ACTIVE
    goodbyes = session.scalar(select(func.count(Message.id)).where(Message.template == "goodbye"))
    assert goodbyes == 2
    (entry,) = audit_entries(session, "leads.bulk_unsubscribe")
    assert (entry.target, entry.after["unsubscribed"]) == ("2 leads", 2)


def test_too_many_leads_change_nothing(studio: Studio, session, monkeypatch) -> None:
    ids = leads(session, 3, prefix="c")
    monkeypatch.setattr(people_list, "BULK_LIMIT", 2)
    response = studio.post("/studio/leads/bulk", {"action": "pause", "scope": "all"})
    assert "change at most 2 leads at once" in studio.get(response.headers["location"]).text
    session.expire_all()
    assert all(session.get(Lead, i).paused_until is None for i in ids)
    assert audit_entries(session, "leads.bulk_pause") == []
    unknown = studio.post("/studio/leads/bulk", {"action": "explode", "scope": "all"})
    assert unknown.status_code == 422


def test_editors_cannot_export(studio: Studio, session) -> None:
    ids = leads(session, 1, prefix="c")
    assert 'value="export"' not in studio.get("/studio/leads").text
    response = studio.post("/studio/leads/bulk", {"action": "export", "lead": [str(ids[0])]})
    assert response.status_code == 403
    assert audit_entries(session, "leads.bulk_export") == []


def test_an_admin_exports_the_selection_as_a_safe_csv(admin_studio: Studio, session) -> None:
    make_lead(session, email_address="x@example.com", first_name='=HYPERLINK("http://evil")')
    make_lead(session, email_address="y@example.com", created_at=clock.now() - timedelta(days=40))
    session.commit()
    day = clock.now().date() - timedelta(days=3)
    response = admin_studio.post(
        "/studio/leads/bulk",
        {"action": "export", "scope": "all", "signed_up_from": day.isoformat()},
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="leads-selection.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["email"] for r in rows] == ["x@example.com"]
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://evil")'
    (entry,) = audit_entries(session, "leads.bulk_export")
    assert entry.target == "1 lead"


def test_ticking_1500_people_is_read_whole_and_changed_at_once(studio: Studio, session) -> None:
    # Starlette reads 1,000 fields unless told otherwise; the list allows 2,000 at once.
    ticked = leads(session, 1500, prefix="t")
    response = studio.post(
        "/studio/leads/bulk", {"action": "pause", "weeks": "2", "lead": [str(i) for i in ticked]}
    )
    assert response.status_code == 303
    assert "Paused 1,500 leads until" in studio.get(response.headers["location"]).text
    session.expire_all()
    assert sum(1 for lead in session.scalars(select(Lead)) if lead.paused_until) == 1500


def test_ticking_more_than_the_limit_gets_the_studios_own_words(studio: Studio, session) -> None:
    ticked = leads(session, 3, prefix="t")
    many = [str(i) for i in range(10**6, 10**6 + 2500)]
    response = studio.post(
        "/studio/leads/bulk", {"action": "pause", "weeks": "2", "lead": [*map(str, ticked), *many]}
    )
    assert response.status_code == 303
    page = studio.get(response.headers["location"]).text
    assert "Nothing was changed: change at most 2,000 leads at once." in page
    # Far past what the page reads: the studio's page, in words, not the parser's 400.
    flood = [str(i) for i in range(10**6, 10**6 + people_list.BULK_FORM_FIELDS + 1)]
    refused = studio.post("/studio/leads/bulk", {"action": "pause", "weeks": "2", "lead": flood})
    assert refused.status_code == 413
    assert "Too much at once" in refused.text
    assert "Tick fewer people" in refused.text
    assert "Too many fields" not in refused.text
    session.expire_all()
    assert all(lead.paused_until is None for lead in session.scalars(select(Lead)))
