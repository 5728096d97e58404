"""Sites kept to in lead imports, results and the command line; and corrected signups."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.enrollments.models import Enrollment
from nurture.jobs.models import Job
from nurture.leads.models import Lead
from nurture.outbox.models import Channel, Message, MessageStatus, Stream, TextReply
from nurture.sequences.models import SequenceVersion
from nurture.staff.models import AuditEntry, StaffUser
from nurture.tasks import run_job
from tests.locations.test_studio_locations import NOW, north_editor, people
from tests.studio.conftest import Studio
from tests.studio.test_journey_results import _publish

__all__ = ["north_editor", "people"]

HEADER = "email,first_name,numbness_type,timezone,consent_at,consent_source"


def _import(studio: Studio, body: str) -> tuple[int, str]:
    response = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": ("leads.csv", body.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    run_job(job_id)  # what the worker does with the queued job
    return job_id, studio.get(f"/studio/jobs/{job_id}").text


ADMIN = "admin@clinic.example"
EDITOR = "editor@clinic.example"


def test_a_limited_editors_imports_stay_at_their_sites(  # type: ignore[no-untyped-def]
    north_editor: Studio, make_staff, session
) -> None:
    s = north_editor
    make_staff(ADMIN, "admin")
    assert "The people you import belong to North Clinic." in s.get("/studio/leads").text
    _, page = _import(s, HEADER + "\nnew@example.com,New,acute,,,\n")
    assert "Imported 1 new lead" in page
    assert session.scalar(select(Lead.location_key).where(Lead.email == "new@example.com")) == (
        "north"
    )
    elsewhere = HEADER + ",location\nfar@example.com,Far,acute,,,,South Clinic\n"
    _, page = _import(s, elsewhere)
    assert "Nothing was imported" in page
    assert "South Clinic is not one of your locations (north)" in page
    assert session.scalar(select(Lead.id).where(Lead.email == "far@example.com")) is None
    # The admin's import of the same file puts the person at South; the editor sees none of it.
    assert s.sign_in(ADMIN).status_code == 303
    theirs, page = _import(s, elsewhere)
    assert "Imported 1 new lead" in page
    assert session.scalar(select(Lead.location_key).where(Lead.email == "far@example.com")) == (
        "south"
    )
    assert f"/studio/jobs/{theirs}" in s.get("/studio/leads").text
    assert s.sign_in(EDITOR).status_code == 303
    assert s.get(f"/studio/jobs/{theirs}").status_code == 404
    assert s.get(f"/studio/jobs/{theirs}/problems.txt").status_code == 404
    assert f"/studio/jobs/{theirs}" not in s.get("/studio/leads").text


def test_an_editor_of_several_sites_says_where_each_person_goes(  # type: ignore[no-untyped-def]
    north_editor: Studio, session
) -> None:
    member = session.scalars(select(StaffUser).where(StaffUser.role == "editor")).one()
    member.location_keys = ["north", "south"]
    session.commit()
    hint = north_editor.get("/studio/leads").text
    assert "by name: North Clinic, South Clinic. Every row needs one." in hint
    body = HEADER + ",location\na@example.com,A,acute,,,,\nb@example.com,B,acute,,,,nowhere\n"
    job_id, page = _import(north_editor, body)
    assert "say which of your locations this person belongs to: north, south" in page
    assert "no location is called &#39;nowhere&#39;; use one of: north, south" in page
    assert session.get(Job, job_id).status == "failed"
    fixed = HEADER + ",location\na@example.com,A,acute,,,,South\n"
    assert "Imported 1 new lead" in _import(north_editor, fixed)[1]


def _text(session, lead_id: int, appointment_id: int | None, status: str) -> None:  # type: ignore[no-untyped-def]
    session.add(
        Message(
            lead_id=lead_id,
            appointment_id=appointment_id,
            channel=Channel.SMS,
            template="appointment_reminder",
            stream=Stream.TRANSACTIONAL,
            to_phone="+13125550100",
            status=status,
            due_at=NOW,
            key=f"t-{lead_id}-{status}",
        )
    )


def _reminders(page: str) -> list[str]:
    """Sent, delivered, undelivered and failed reminder texts, as the results page shows them."""
    row = page.split("<td>Reminder</td>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td[^>]*>(\d+)</td>", row)


def test_results_tables_follow_the_site_and_the_account(  # type: ignore[no-untyped-def]
    north_editor: Studio, make_staff, session, people
) -> None:
    north, south = people["north"], people["south"]
    _text(session, north.lead_id, north.id, MessageStatus.SENT)
    _text(session, south.lead_id, south.id, MessageStatus.SENT)
    _text(session, south.lead_id, south.id, MessageStatus.FAILED)
    session.add(
        TextReply(
            provider_sid="SM9",
            from_phone="+13125550100",
            body="C",
            action="confirmed",
            lead_id=south.lead_id,
            received_at=NOW,
        )
    )
    session.commit()
    mine = north_editor.get("/studio/results").text
    mine_south = north_editor.get("/studio/results", params={"location": "south"}).text
    make_staff(ADMIN, "admin")
    assert north_editor.sign_in(ADMIN).status_code == 303
    everyone = north_editor.get("/studio/results").text
    only_south = north_editor.get("/studio/results", params={"location": "south"}).text
    only_north = north_editor.get("/studio/results", params={"location": "north"}).text
    assert _reminders(everyone) == ["2", "0", "0", "1"]
    assert _reminders(only_south) == ["1", "0", "0", "1"]
    assert _reminders(only_north) == ["1", "0", "0", "0"]
    assert _reminders(mine) == _reminders(only_north)
    assert _reminders(mine_south) == _reminders(only_north)
    confirmed = "Confirmed (replied"
    assert _row(everyone, confirmed) == "1"
    assert _row(only_north, confirmed) == "0"
    assert _row(mine, confirmed) == "0"


def _row(page: str, label: str) -> str:
    after = page.split(label, 1)[1].split("</tr>", 1)[0]
    return str(re.findall(r"<td[^>]*>(\d+)</td>", after)[0])


def test_staff_create_keeps_an_editor_to_locations(session, two_sites) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["staff", "create", "nn@clinic.example", "--password-stdin", "--location", "north"],
        input="correct horse battery staple\n",
    )
    assert made.exit_code == 0, made.output
    assert "kept to north" in made.output
    session.expire_all()
    member = session.scalars(select(StaffUser).where(StaffUser.email == "nn@clinic.example"))
    assert member.one().location_keys == ["north"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.create")).one()
    assert entry.after["locations"] == ["north"]
    unknown = runner.invoke(
        main,
        ["staff", "create", "x@clinic.example", "--password-stdin", "--location", "west"],
        input="correct horse battery staple\n",
    )
    assert unknown.exit_code == 2
    assert "use one of: main, north, south" in unknown.output
    admin = runner.invoke(
        main,
        ["staff", "create", "a@clinic.example", "--role", "admin", "--location", "north"],
        input="correct horse battery staple\n",
    )
    assert admin.exit_code == 2
    assert "admins see every location" in admin.output
    others = select(StaffUser.id).where(StaffUser.email != "nn@clinic.example")
    assert session.scalar(others) is None


def test_a_corrected_signup_keeps_its_site_and_language(client, session, two_sites) -> None:  # type: ignore[no-untyped-def]
    form = {
        "first_name": "Sam",
        "email": "sam@exmaple.com",
        "numbness_type": "chronic",
        "consent": "true",
        "location": "south",
        "language": "es",
    }
    sent = client.post("/subscribe", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    sealed = parse_qs(urlsplit(sent.headers["location"]).query)["t"][0]
    fixed = client.post(
        "/subscribe/correct", data={"t": sealed, "email": "sam@example.com"}, follow_redirects=False
    )
    assert fixed.status_code == 303
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    assert (lead.email, lead.location_key, lead.language) == ("sam@example.com", "south", "es")


def test_journey_totals_count_only_the_sites_people(  # type: ignore[no-untyped-def]
    north_editor: Studio, make_staff, session, people
) -> None:
    sequence = _publish(session, "after-visit", "trigger: attended", [("thanks", "delay_days: 1")])
    version = session.scalar(
        select(SequenceVersion.id).where(SequenceVersion.sequence_id == sequence.id)
    )
    for visit in people.values():
        session.add(
            Enrollment(
                lead_id=visit.lead_id, sequence_id=sequence.id, version_id=version, enrolled_at=NOW
            )
        )
    session.commit()
    url = "/studio/results/after-visit"
    assert re.search(r'id="entered">1<', north_editor.get(url).text)
    assert re.search(r'id="entered">1<', north_editor.get(url, params={"location": "south"}).text)
    make_staff(ADMIN, "admin")
    assert north_editor.sign_in(ADMIN).status_code == 303
    assert re.search(r'id="entered">3<', north_editor.get(url).text)
    assert re.search(r'id="entered">1<', north_editor.get(url, params={"location": "main"}).text)


def test_undoing_someone_elses_pause_resumes_only_the_editors_people(  # type: ignore[no-untyped-def]
    north_editor: Studio, make_staff, session, people
) -> None:
    make_staff(ADMIN, "admin")
    assert north_editor.sign_in(ADMIN).status_code == 303
    paused = north_editor.post(
        "/studio/leads/bulk", {"action": "pause", "weeks": "2", "scope": "all"}
    )
    assert paused.status_code == 303
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.bulk_pause"))
    undo = f"/studio/leads/bulk/undo/{entry.one().id}"
    everyone = {v.lead_id for v in people.values()}
    session.expire_all()
    assert {i for i in everyone if session.get(Lead, i).paused_until} == everyone
    assert north_editor.sign_in(EDITOR).status_code == 303
    assert north_editor.post(undo).status_code == 303
    session.expire_all()
    still = {i for i in everyone if session.get(Lead, i).paused_until}
    assert still == everyone - {people["north"].lead_id}
    resumed = session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.bulk_resume"))
    assert resumed.one().after["ids"] == [people["north"].lead_id]
