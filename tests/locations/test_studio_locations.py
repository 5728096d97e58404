"""Locations in the studio: managed by admins, filtered by, and kept to for limited staff."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments import service
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn
from nurture.broadcasts.models import Broadcast
from nurture.cli import main
from nurture.leads.models import Lead
from nurture.locations.models import Location
from nurture.outbox.models import Message, TextReply
from nurture.staff.models import AuditEntry, StaffUser
from tests.studio.conftest import Studio
from tests.studio.test_broadcasts import GOOD

NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
DAY = datetime(2026, 3, 24, 10, 0, tzinfo=ZoneInfo("America/New_York"))


def test_admins_add_change_and_remove_sites_with_an_audit_trail(admin_studio, session) -> None:
    page = admin_studio.get("/studio/admin/locations").text
    assert "Time zone" in page
    assert "Chicago (America)" in page
    bad = admin_studio.post(
        "/studio/admin/locations", {"key": "east", "name": "East", "phone": "12", "timezone": "X"}
    )
    assert bad.status_code == 422
    assert "Time zone: pick a city from the list." in bad.text
    assert session.get(Location, "east") is None
    added = admin_studio.post(
        "/studio/admin/locations",
        {"key": "east", "name": "East Clinic", "address": "5 East Way", "timezone": "Europe/Paris"},
    )
    assert added.status_code == 303, added.text
    assert sorted(session.scalars(select(Location.key))) == ["east", "main"]
    changed = admin_studio.post(
        "/studio/admin/locations/east", {"name": "East Clinic", "phone": "+1 212 555 0142"}
    )
    assert changed.status_code == 303
    # Live at once: the next page shows it without a restart.
    assert "+1 212 555 0142" in admin_studio.get("/studio/admin/locations").text
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert [a for a in actions if a.startswith("location")] == ["location.add", "location.update"]
    session.add(
        Lead(email="e@example.com", first_name="E", numbness_type="acute", location_key="east")
    )
    session.commit()
    refused = admin_studio.post("/studio/admin/locations/east/remove")
    assert (
        "still used by 0 visit(s) and 1 lead(s)"
        in admin_studio.get(refused.headers["location"]).text
    )
    removed = CliRunner().invoke(main, ["locations", "remove", "east"])
    assert removed.exit_code != 0
    assert "still used" in removed.output


def test_editors_cannot_manage_sites(studio) -> None:
    assert studio.get("/studio/admin/locations").status_code == 403


def _visit(session, email: str, key: str | None, hour: int) -> Appointment:  # type: ignore[no-untyped-def]
    return service.book(
        session,
        data=AppointmentIn(
            email=email,
            first_name=email[:3],
            starts_at=DAY.replace(hour=hour),
            timezone="America/New_York",
            location=key or "",
        ),
        now=NOW,
    ).appointment


@pytest.fixture
def people(session, two_sites) -> dict[str, Appointment]:  # type: ignore[no-untyped-def]
    """One visit and patient at each site (the clinic's own, `main`, included)."""
    visits = {
        "north": _visit(session, "nora@example.com", "north", 9),
        "south": _visit(session, "sam@example.com", "south", 10),
        "main": _visit(session, "mia@example.com", None, 11),
    }
    session.commit()
    return visits


def test_people_and_day_view_filter_by_site(admin_studio, people) -> None:
    listed = admin_studio.get("/studio/leads", params={"location": "south"}).text
    assert "sam@example.com" in listed
    assert "nora@example.com" not in listed
    assert "mia@example.com" not in listed
    day = admin_studio.get("/studio/visits", params={"day": "2026-03-24", "location": "north"})
    assert "nora@example.com" in day.text
    assert "sam@example.com" not in day.text
    everyone = admin_studio.get("/studio/visits", params={"day": "2026-03-24"}).text
    assert all(e in everyone for e in ("nora@", "sam@", "mia@"))
    assert admin_studio.get("/studio/results", params={"location": "south"}).status_code == 200


@pytest.fixture
def north_editor(client, make_staff, session, people) -> Studio:  # type: ignore[no-untyped-def]
    """An editor kept to North, signed in."""
    member = make_staff()
    member.location_keys = ["north"]
    session.commit()
    s = Studio(client)
    assert s.sign_in("editor@clinic.example").status_code == 303
    return s


def test_a_limited_editor_sees_and_acts_on_only_their_sites(
    north_editor: Studio, session, people
) -> None:
    s = north_editor
    south = people["south"]
    listed = s.get("/studio/leads").text
    assert "nora@example.com" in listed
    assert "sam@example.com" not in listed
    assert "sam@example.com" not in s.get("/studio/leads", params={"location": "south"}).text
    day = s.get("/studio/visits", params={"day": "2026-03-24"}).text
    assert "nora@example.com" in day
    assert "sam@example.com" not in day
    lead = f"/studio/leads/{south.lead_id}"
    visit = f"{lead}/appointments/{south.id}"
    for url in (lead, f"{lead}/next"):
        assert s.get(url).status_code == 404, url
    for url, form in (
        (f"{lead}/action", {"action": "unsubscribe"}),
        (f"{lead}/appointments", {"starts_at": "2026-04-01T10:00", "timezone": "UTC"}),
        (f"{visit}/move", {"starts_at": "2026-04-01T10:00"}),
        (f"{visit}/cancel", {}),
        (f"/studio/visits/{south.id}/outcome", {"outcome": "attended"}),
    ):
        assert s.post(url, form).status_code == 404, url
    # Bulk actions reach only their people, whether ticked or "all matching".
    assert s.post("/studio/leads/bulk", {"action": "unsubscribe", "lead": str(south.lead_id)})
    assert s.post("/studio/leads/bulk", {"action": "unsubscribe", "scope": "all"})
    session.expire_all()
    assert session.get(Lead, south.lead_id).status != "unsubscribed"
    assert session.get(Lead, people["north"].lead_id).status == "unsubscribed"
    # Visit emails: their own only.
    # A pending one of each: the unsubscribes above skipped some (PostgreSQL returns rows in
    # no set order, so an unordered pick could land on a skipped one).
    pending = select(Message.id).where(Message.status == "pending").order_by(Message.id)
    mine = session.scalar(pending.where(Message.appointment_id == people["north"].id))
    theirs = session.scalar(pending.where(Message.appointment_id == south.id))
    assert mine is not None
    assert theirs is not None
    outbox = s.get("/studio/outbox", params={"status": "pending"}).text
    assert f"/studio/outbox/{mine}" in outbox
    assert f'/studio/outbox/{theirs}"' not in outbox
    assert s.get(f"/studio/outbox/{theirs}").status_code == 404
    assert s.post(f"/studio/outbox/{theirs}/retry").status_code == 404
    # Text replies from other sites' patients are not theirs to read.
    session.add(
        TextReply(
            provider_sid="SM1",
            from_phone="+13125550100",
            body="who is this",
            action="inbox",
            lead_id=south.lead_id,
            received_at=NOW,
        )
    )
    session.commit()
    assert "who is this" not in s.get("/studio/texts").text
    assert s.get("/studio/texts/numbers/13125550100").status_code == 404
    assert s.post("/studio/texts/numbers/13125550100/answer", {"body": "hi"}).status_code == 404
    assert s.get(f"/studio/visits/{south.id}/texts").status_code == 404
    assert s.post(f"/studio/visits/{south.id}/texts", {"phone": ""}).status_code == 404
    # A broadcast they write goes to their sites' people only.
    assert s.post("/studio/broadcasts", GOOD).status_code == 303
    [mine_b] = session.scalars(select(Broadcast)).all()
    assert mine_b.segment["locations"] == ["north"]
    count = s.get("/studio/broadcasts/audience").json()
    assert count["matching"] == 1
    assert s.get("/studio/results").status_code == 200


def test_an_admins_broadcast_to_everyone_is_not_a_limited_editors(
    admin_studio, client, make_staff, session, people
) -> None:
    assert admin_studio.post("/studio/broadcasts", GOOD).status_code == 303
    broadcast_id = session.scalar(select(Broadcast.id))
    page = admin_studio.get("/studio/admin").text
    assert "Locations editor@clinic.example works with" not in page  # no editor yet
    member = make_staff()
    admin_studio.get("/studio/admin")
    set_sites = admin_studio.post(
        f"/studio/admin/staff/{member.id}", {"action": "locations", "location": ["north"]}
    )
    assert set_sites.status_code == 303
    session.expire_all()
    assert session.get(StaffUser, member.id).location_keys == ["north"]
    editor = Studio(client)
    assert editor.sign_in("editor@clinic.example").status_code == 303
    assert editor.get(f"/studio/broadcasts/{broadcast_id}").status_code == 404
    assert editor.post(f"/studio/broadcasts/{broadcast_id}/schedule", {}).status_code == 404
    assert f'/studio/broadcasts/{broadcast_id}"' not in editor.get("/studio/broadcasts").text


def test_staff_change_a_persons_site_from_their_page(admin_studio, session, people) -> None:
    lead_id = people["main"].lead_id
    assert "Change location" in admin_studio.get(f"/studio/leads/{lead_id}").text
    moved = admin_studio.post(
        f"/studio/leads/{lead_id}/action", {"action": "location", "location": "north"}
    )
    assert moved.status_code == 303
    session.expire_all()
    assert session.get(Lead, lead_id).location_key == "north"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "lead.location")).one()
    assert (entry.before["location"], entry.after["location"]) == (None, "north")


def test_the_default_location_stays(admin_studio, session, two_sites) -> None:
    refused = CliRunner().invoke(main, ["locations", "remove", "main"])
    assert refused.exit_code == 1
    assert "'main' is the default location and stays" in refused.output
    page = admin_studio.get("/studio/admin/locations").text
    assert 'action="/studio/admin/locations/north/remove"' in page
    assert 'action="/studio/admin/locations/main/remove"' not in page
    posted = admin_studio.post("/studio/admin/locations/main/remove")
    assert "the default location and stays" in admin_studio.get(posted.headers["location"]).text
    # Removing it would have let the next site added bring it back unasked.
    assert CliRunner().invoke(main, ["locations", "remove", "north"]).exit_code == 0
    assert sorted(session.scalars(select(Location.key))) == ["main", "south"]


def test_the_step_preview_shows_the_location_picked(  # type: ignore[no-untyped-def]
    admin_studio, session, two_sites, sequences_loaded
) -> None:
    import re

    live = admin_studio.get("/studio/sequences/recall").text
    step = re.findall(r'/studio/sequences/recall/steps/(\d+)"', live)[0]
    url = f"/studio/sequences/recall/steps/{step}"
    default = admin_studio.get(url).text
    assert "+1 312 555 0199" not in default
    assert '<option value="south" >South Clinic</option>' in default  # the picker
    south = admin_studio.get(url, params={"location": "south"}).text
    assert "+1 312 555 0199" in south
    assert "https://book.example.com/south" in south
    assert '<option value="south" selected>South Clinic</option>' in south
    north = admin_studio.get(url, params={"location": "north"}).text
    assert "+1 212 555 0101" in north
    assert "+1 312 555 0199" not in north
