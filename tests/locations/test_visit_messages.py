"""Every email and text about a visit speaks for the visit's site: name, logo, colour, address,
map, hours and phone; the calendar file too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from nurture.cli import main
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.locations import service as locations
from nurture.locations.models import Location
from tests.delivery.texts.helpers import tick
from tests.factories import outbox_messages, text_part

NOW = datetime(2026, 3, 23, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=ZoneInfo("America/Chicago"))
PHONE = "+13125550100"


def test_every_visit_message_speaks_for_the_visits_site(  # type: ignore[no-untyped-def]
    client, session, twilio, two_sites
) -> None:
    south = session.get(Location, "south")
    south.opening_hours = "Monday to Friday, 8am to 6pm"
    south.logo_url = "https://cdn.example.com/south.png"
    south.accent_color = "#7a1f5c"
    south.map_url = "https://maps.example.com/south"
    session.commit()
    locations.invalidate()
    made = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[0]}"}
    body = {
        "email": "pat@example.com",
        "first_name": "Pat",
        "starts_at": VISIT.isoformat(),
        "timezone": "America/Chicago",
        "location": "south",
        "phone": PHONE,
        "sms_consent": True,
    }
    with clock.frozen_at(NOW):
        booked = client.post("/api/appointments", json=body, headers=headers)
    assert booked.status_code == 201, booked.text
    visit_id = booked.json()["id"]
    due = sorted({datetime.fromisoformat(r["due_at"]) for r in booked.json()["reminders"]})
    for at in due[:-1]:  # booked, 48 hours before, the nudge: each on its time
        tick(at + timedelta(seconds=1))
    moved_at = due[-2] + timedelta(hours=1)  # the day before, in opening hours
    with clock.frozen_at(moved_at):
        moved = client.patch(
            f"/api/appointments/{visit_id}",
            json={"starts_at": (VISIT + timedelta(hours=2)).isoformat()},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
    tick(moved_at + timedelta(seconds=1))
    cancelled_at = moved_at + timedelta(minutes=5)
    with clock.frozen_at(cancelled_at):
        assert client.delete(f"/api/appointments/{visit_id}", headers=headers).status_code == 200
    tick(cancelled_at + timedelta(seconds=1))

    emails = outbox_messages(get_settings().resolved_outbox_dir)
    subjects = [str(e["subject"]) for e in emails]
    kinds = ("Booked:", "Reminder:", "Can you still", "Your visit has moved", "Your visit on")
    for start in kinds:
        assert any(s.startswith(start) for s in subjects), (start, subjects)
    for email in emails:
        html = email.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        text = text_part(email)
        subject = str(email["subject"])
        assert 'src="https://cdn.example.com/south.png" alt="South Clinic"' in html, subject
        assert "#7a1f5c" in html, subject
        assert 'href="tel:+13125550199"' in html, subject
        assert "9 South Street, Shelbyville" in text, subject
        assert "1 North Road" not in text
        assert "123 Example Street" not in text
        if not subject.endswith("is cancelled"):
            assert 'href="https://maps.example.com/south"' in html, subject
            assert "https://maps.example.com/south" in text, subject
        if subject.startswith(("Booked:", "Reminder:")):
            assert "Monday to Friday, 8am to 6pm" in text, subject
            assert "Monday to Friday, 8am to 6pm" in html, subject
    texts = twilio.state.bodies_to(PHONE)
    assert len(texts) == 5  # booked, 48 hours before, the nudge, moved, cancelled
    assert all(t.startswith("South Clinic:") for t in texts), texts
    assert any("+1 312 555 0199" in t for t in texts), texts


def test_a_staff_text_may_name_the_location_or_the_clinic() -> None:
    from nurture.messages.text_checks import problems

    tail = " {{ visit.starts_at|visit_time(visit.timezone) }} at {{ visit.address }}. Reply C."
    assert problems("appointment_reminder", "{{ location.name }}:" + tail) == []
    assert problems("appointment_reminder", "{{ clinic.name }}:" + tail) == []
    assert problems("appointment_reminder", "See you" + tail) == [
        "It must say the clinic's name ({{ location.name }} or {{ clinic.name }})."
    ]
