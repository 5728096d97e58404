"""Two sites end to end: API, CSV, Cal.com, signup, emails, .ics and send windows."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import ics
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery.facts import gather
from nurture.leads.models import Lead
from nurture.locations import service as locations
from nurture.locations.models import Location
from nurture.messages.contexts import lead_context
from nurture.outbox.models import Message
from tests.factories import make_lead, outbox_messages, text_part
from tests.ticking import tick_here

NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=ZoneInfo("America/Chicago"))


@pytest.fixture
def api(client, session):  # type: ignore[no-untyped-def]
    made = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    token = made.stdout.strip().splitlines()[0]

    def post(**body: object):  # type: ignore[no-untyped-def]
        visit = {
            "email": "pat@example.com",
            "first_name": "Pat",
            "starts_at": VISIT.isoformat(),
            "timezone": "America/Chicago",
            **body,
        }
        with clock.frozen_at(NOW):
            return client.post(
                "/api/appointments", json=visit, headers={"Authorization": f"Bearer {token}"}
            )

    return post


def test_a_visit_at_a_site_is_told_that_sites_address_phone_and_calendar(
    api, session, two_sites
) -> None:
    answer = api(location="SOUTH clinic", external_id="v1")
    assert answer.status_code == 201, answer.text
    assert answer.json()["location"] == "south"
    visit = session.scalars(select(Appointment)).one()
    assert (visit.location_key, visit.location) == ("south", "")
    # The lead's location follows their visit.
    assert session.scalars(select(Lead)).one().location_key == "south"
    tick_here(NOW)
    [email] = outbox_messages(get_settings().resolved_outbox_dir)
    text = text_part(email)
    assert "9 South Street, Shelbyville" in text
    assert "+1 312 555 0199" in text
    assert "1 North Road" not in text
    html = email.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert 'href="tel:+13125550199"' in html
    [attachment] = [p for p in email.iter_attachments() if p.get_filename() == "appointment.ics"]
    content = attachment.get_content()
    calendar = ics.Calendar(content.decode() if isinstance(content, bytes) else content)
    [event] = list(calendar.events)
    assert event.location == "9 South Street, Shelbyville"
    assert event.organizer.common_name == "South Clinic"


def test_an_unknown_location_is_a_422_naming_the_field_and_the_keys(
    api, session, two_sites
) -> None:
    answer = api(location="Mars Base")
    assert answer.status_code == 422
    body = answer.json()
    assert "location" in body["fields"]
    assert "main, north, south" in body["fields"]["location"]
    assert session.scalars(select(Appointment)).all() == []


def test_with_one_site_free_text_stays_the_place(api, session) -> None:
    answer = api(location="Room 2, 123 Example Street")
    assert answer.status_code == 201
    visit = session.scalars(select(Appointment)).one()
    assert (visit.location_key, visit.location) == (None, "Room 2, 123 Example Street")
    assert answer.json()["location"] == "main"


def test_the_visits_csv_picks_sites_and_names_the_line_of_an_unknown_one(
    tmp_path: Path, session, two_sites
) -> None:
    start = VISIT.isoformat()
    header = "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header
        + f"a1,a@example.com,Al,{start},America/Chicago,30,north,booked\n"
        + f"a2,b@example.com,Bo,{start},America/Chicago,30,Moon,booked\n",
        encoding="utf-8",
    )
    with clock.frozen_at(NOW):
        refused = CliRunner().invoke(main, ["visits", "import", str(bad)])
    assert refused.exit_code != 0
    assert "line 3: location: no location is called 'Moon'" in refused.output
    assert session.scalars(select(Appointment)).all() == []
    good = tmp_path / "good.csv"
    good.write_text(
        header + f"a1,a@example.com,Al,{start},America/Chicago,30,North Clinic,booked\n",
        encoding="utf-8",
    )
    with clock.frozen_at(NOW):
        done = CliRunner().invoke(main, ["visits", "import", str(good)])
    assert done.exit_code == 0, done.output
    assert session.scalars(select(Appointment.location_key)).all() == ["north"]


def _calcom(client, uid: str, **payload: object):  # type: ignore[no-untyped-def]
    secret = "calcom-test-secret"
    start = VISIT.astimezone(UTC).isoformat().replace("+00:00", "Z")
    body = {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-03-23T09:00:00.000Z",
        "payload": {
            "uid": uid,
            "startTime": start,
            "endTime": start,
            "attendees": [{"email": f"{uid}@example.com", "name": "Cal", "timeZone": "UTC"}],
            **payload,
        },
    }
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    with clock.frozen_at(NOW):
        return client.post(
            "/webhooks/calcom",
            content=raw,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
        )


def test_calcom_bookings_map_by_event_type_or_place(  # type: ignore[no-untyped-def]
    admin_studio, client, session, settings, two_sites
) -> None:
    settings(calcom_webhook_secret="calcom-test-secret")
    # Set up in the studio, on each location's page.
    page = admin_studio.get("/studio/admin/locations/south").text
    assert 'name="calcom_event_types"' in page
    assert 'name="calcom_places"' in page
    for key, field, value in (
        ("south", "calcom_event_types", "42, 30min-south"),
        ("north", "calcom_places", "Springfield practice"),
    ):
        saved = admin_studio.post(f"/studio/admin/locations/{key}", {field: value})
        assert saved.status_code == 303, saved.text
    session.expire_all()
    assert session.get(Location, "south").calcom_event_types == ["42", "30min-south"]
    assert _calcom(client, "by-type", eventTypeId=42, location="anywhere").status_code == 200
    assert _calcom(client, "by-place", eventTypeId=7, location="Springfield Practice").status_code
    assert _calcom(client, "by-none", eventTypeId=7, location="a park").status_code == 200
    slug = _calcom(client, "by-slug", eventTypeId=8, type="30min-south", location="a park")
    assert slug.status_code == 200
    session.expire_all()
    found = {a.external_id: a.location_key for a in session.scalars(select(Appointment))}
    assert sorted(found.values(), key=str) == sorted(["south", "north", None, "south"], key=str)


def test_signups_choose_a_site(client, session, two_sites) -> None:
    page = client.get("/?location=south").text
    assert '<option value="south" selected>' in page
    assert 'name="location"' in page
    body = {"email": "sam@example.com", "first_name": "Sam", "numbness_type": "chronic"}
    refused = client.post("/api/subscribe", json={**body, "consent": True, "location": "Nowhere"})
    assert refused.status_code == 422
    assert "location" in refused.json()["fields"]
    taken = client.post("/api/subscribe", json={**body, "consent": True, "location": "North"})
    assert taken.status_code == 202
    assert session.scalars(select(Lead.location_key)).one() == "north"


def test_one_site_signups_ignore_the_location_and_show_no_choice(client, session) -> None:
    assert 'name="location"' not in client.get("/").text
    body = {"email": "sam@example.com", "first_name": "Sam", "numbness_type": "chronic"}
    assert (
        client.post("/api/subscribe", json={**body, "consent": True, "location": "x"}).status_code
        == 202
    )


def test_marketing_uses_the_leads_site_and_reviews_the_visited_one(session, two_sites) -> None:
    lead = make_lead(session)
    lead.location_key = "south"
    session.add(
        Appointment(
            lead_id=lead.id,
            starts_at=NOW - timedelta(days=3),
            timezone="America/New_York",
            location_key="north",
            status="attended",
        )
    )
    session.commit()
    context = lead_context(lead, content="step-1")
    assert context["booking_url"].startswith("https://book.example.com/south?")
    assert context["location"]["phone"] == "+1 312 555 0199"
    assert context["review_url"] == "https://reviews.example.com/north"
    # The clinic's own details stay beside the site's.
    assert context["clinic"]["name"] == get_settings().clinic_name
    # The delivery engine reads the visited sites of a whole batch in one query, and gives
    # the same answer: the latest visit they came to (a later no-show does not count).
    for days, site, status in ((2, "south", "attended"), (1, "north", "no_show")):
        session.add(
            Appointment(
                lead_id=lead.id,
                starts_at=NOW - timedelta(days=days),
                timezone="America/New_York",
                location_key=site,
                status=status,
            )
        )
    session.flush()
    drip = Message(key="drip-1", stream="marketing", lead_id=lead.id)
    drip.broadcast_id = 0  # any marketing row of the lead's: gather() reads their visits
    facts = gather(session, [drip], NOW)
    assert facts.visited == {lead.id: "south"}
    batch = lead_context(lead, content="step-1", visited=facts.visited[lead.id])
    assert batch == lead_context(lead, content="step-1")
    assert batch["review_url"] == "https://reviews.example.com/south"


def test_closures_hold_only_that_sites_emails(session, two_sites) -> None:
    from nurture.sequences.models import SequenceVersion
    from nurture.sequences.schedule import window_of

    south = session.get(Location, "south")
    south.closures = ["2026-03-24"]
    session.commit()
    locations.invalidate()
    version = SequenceVersion(window_start_hour=9, window_end_hour=17, window_weekdays="12345")
    closed = window_of(version, location_key="south").closures
    assert date(2026, 3, 24) in closed
    assert date(2026, 3, 24) not in window_of(version, location_key="north").closures


def test_people_change_their_site_on_the_preferences_page(client, session, two_sites) -> None:
    from nurture.messages.links import preferences_url

    lead = make_lead(session)
    session.commit()
    url = preferences_url(lead).removeprefix("https://nurture.test")
    assert '<option value="main" selected>' in client.get(url).text
    saved = client.post(
        url, data={"action": "type", "numbness_type": "chronic", "location": "south"}
    )
    assert "your clinic is now South Clinic" in saved.text
    session.expire_all()
    assert session.get(Lead, lead.id).location_key == "south"
