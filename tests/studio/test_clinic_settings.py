"""Clinic details edited in the studio: validated, audited, live at once, reset to default."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from nurture.clinic import service as clinic
from nurture.clinic.models import ClinicSetting
from nurture.core import clock
from nurture.core.colours import contrast_with_white
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.leads.models import LeadStatus
from nurture.outbox import plan as planning
from nurture.outbox.models import Stream
from nurture.staff.models import AuditEntry
from tests.factories import make_lead, outbox_messages

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = "/studio/admin/clinic"


def _form(**changes: str) -> dict[str, str]:
    """The form as the page shows it now (every field), with `changes` typed over it."""
    env = clinic.defaults()
    values = {f.name: clinic.as_text(f, env[f.name]) for f in clinic.FIELDS}
    return {**values, **changes}


def _shown(**changes: str) -> dict[str, str]:
    """The form as the page shows it with the values in use now, with `changes` typed over it."""
    clinic.invalidate()
    now = clinic.effective()
    values = {f.name: clinic.as_text(f, getattr(now, f.name)) for f in clinic.FIELDS}
    values["clinic_closures"] = "\n".join(d.isoformat() for d in now.clinic_closures)
    return {**values, **changes}


def _send_confirmation(session, address: str) -> EmailMessage:  # type: ignore[no-untyped-def]
    lead = make_lead(session, email_address=address, status=LeadStatus.PENDING)
    planning.plan(
        session,
        key=f"confirm:{lead.id}",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=NOW - timedelta(minutes=1),
        lead_id=lead.id,
    )
    session.commit()
    backend = get_backend()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    [sent] = [m for m in outbox_messages(backend.directory) if m["To"] == address]
    return sent


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_a_saved_name_and_colour_show_in_the_next_email_and_page(
    admin_studio: Any, session: Any, client: Any
) -> None:
    before = _send_confirmation(session, "first@example.com")
    assert "Example Spine &amp; Nerve Clinic" in _html(before)
    assert client.get("/").text.count("Harbour Chiropractic") == 0

    response = admin_studio.post(
        URL,
        _form(
            clinic_name="Harbour Chiropractic",
            accent_color="#1B6B36",
            transactional_from_name="Harbour Front Desk",
            opening_hours="Mon-Fri 8:00-18:00\nSat 9:00-12:00",
        ),
    )
    assert response.status_code == 303, response.text

    after = _send_confirmation(session, "second@example.com")
    html = _html(after)
    assert "Harbour Chiropractic" in html
    assert 'bgcolor="#1b6b36"' in html
    assert 'bgcolor="#0b5cad"' not in html
    assert "Harbour Front Desk" in after["From"]
    landing = client.get("/").text
    assert "Harbour Chiropractic" in landing
    assert "--button: #1b6b36" in landing
    assert "Sat 9:00-12:00" in landing


def test_bad_values_are_shown_beside_their_fields_and_nothing_is_saved(admin_studio: Any) -> None:
    response = admin_studio.post(
        URL,
        _form(
            clinic_name="Fine New Name",
            accent_color="#ffdd00",
            booking_url="http://insecure.example/book",
            clinic_phone="call us",
            clinic_closures="2026-12-25\nsoon",
            marketing_from_name="News\r\nBcc: victim@example.com",
        ),
    )
    assert response.status_code == 422
    page = response.text
    beside = dict(re.findall(r'<p class="error" id="e-(\w+)">([^<]*)</p>', page))
    assert set(beside) == {
        "accent_color",
        "booking_url",
        "clinic_phone",
        "clinic_closures",
        "marketing_from_name",
    }
    assert "contrast" in beside["accent_color"]
    assert "https://" in beside["booking_url"]
    assert "phone number" in beside["clinic_phone"]
    assert "&#39;soon&#39;" in beside["clinic_closures"]
    assert "line breaks" in beside["marketing_from_name"]
    assert 'aria-describedby="e-booking_url"' in page
    assert 'value="Fine New Name"' in page  # what was typed stays in the form
    from nurture.core.db import session_scope

    with session_scope() as s:
        assert s.scalars(select(ClinicSetting)).all() == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.action.like("clinic.%"))).all() == []
    assert clinic.effective().clinic_name == "Example Spine & Nerve Clinic"


def test_a_change_is_audited_with_before_and_after(admin_studio: Any, session: Any) -> None:
    response = admin_studio.post(
        URL, _form(clinic_phone="+1 212 555 0134", clinic_closures="2026-12-25, 2026-12-24")
    )
    assert response.status_code == 303
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "clinic.update"))
    assert entry.actor == "admin@clinic.example"
    assert entry.before == {"clinic_phone": "+1 555 010 0000", "clinic_closures": []}
    assert entry.after == {
        "clinic_phone": "+1 212 555 0134",
        "clinic_closures": ["2026-12-24", "2026-12-25"],
    }
    details = clinic.effective()
    assert details.phone_link == "tel:+12125550134"
    assert [d.isoformat() for d in details.clinic_closures] == ["2026-12-24", "2026-12-25"]


def test_editors_get_403_and_change_nothing(studio: Any) -> None:
    assert studio.get(URL).status_code == 403
    response = studio.post(URL, _form(clinic_name="Editor's Clinic"))
    assert response.status_code == 403
    assert studio.post(f"{URL}/reset", {"name": "clinic_name"}).status_code == 403
    assert clinic.effective().clinic_name == "Example Spine & Nerve Clinic"


def test_a_post_without_the_csrf_token_is_refused(admin_studio: Any) -> None:
    response = admin_studio.client.post(
        URL, data=_form(clinic_name="Forged Clinic"), follow_redirects=False
    )
    assert response.status_code == 403
    assert clinic.effective().clinic_name == "Example Spine & Nerve Clinic"


def test_reset_to_default_removes_the_override(
    admin_studio: Any, session: Any, settings: Any
) -> None:
    settings(clinic_name="Env Name Clinic")
    assert admin_studio.post(URL, _form(clinic_name="Studio Name")).status_code == 303
    assert clinic.effective().clinic_name == "Studio Name"
    page = admin_studio.get(URL).text
    assert "Use default for Clinic name" in page

    response = admin_studio.post(f"{URL}/reset", {"name": "clinic_name"})
    assert response.status_code == 303
    assert clinic.effective().clinic_name == "Env Name Clinic"
    assert session.scalars(select(ClinicSetting)).all() == []
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "clinic.reset"))
    assert (entry.before, entry.after) == (
        {"clinic_name": "Studio Name"},
        {"clinic_name": "Env Name Clinic"},
    )


def test_other_processes_see_a_change_within_the_cache_time(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert clinic.effective().clinic_name == "Example Spine & Nerve Clinic"
    # Written by another process: this one's cache still holds the old details...
    session.add(ClinicSetting(key="clinic_name", value="Worker Sees This", updated_at=NOW))
    session.commit()
    assert clinic.effective().clinic_name == "Example Spine & Nerve Clinic"
    # ...until the cache time has passed, with no restart.
    later = clinic.time.monotonic() + clinic.CACHE_SECONDS + 1
    monkeypatch.setattr(clinic.time, "monotonic", lambda: later)
    assert clinic.effective().clinic_name == "Worker Sees This"


@pytest.mark.parametrize(
    ("colour", "ok"),
    [
        ("#0b5cad", True),
        ("#767676", True),
        ("#777777", False),
        ("#ffffff", False),
        ("0b5cad", False),
    ],
)
def test_accent_colour_needs_contrast_against_white(colour: str, ok: bool) -> None:
    _, errors = clinic.parse_form({"accent_color": colour})
    assert ("accent_color" not in errors) is ok


def test_contrast_matches_wcag() -> None:
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#767676"), 2) == 4.54


def _setting_cell(page: str, name: str) -> str:
    match = re.search(rf"<td title=\"NURTURE_{name}\">[^<]*</td><td>(.*?)</td>", page, re.S)
    assert match, f"NURTURE_{name} is not in the settings table"
    return match.group(1)


def test_unset_settings_show_the_value_in_use_and_that_it_is_the_default(
    admin_studio: Any, settings: Any
) -> None:
    settings(base_url="")
    page = admin_studio.get("/studio/admin").text
    base_url = _setting_cell(page, "BASE_URL")
    assert "None" not in base_url
    assert "http://127.0.0.1:8000" in base_url
    assert "default" in base_url
    assert "None" not in _setting_cell(page, "DATABASE_URL")
    assert "None" not in _setting_cell(page, "EMAIL_BACKEND")
    assert "outbox" in _setting_cell(page, "EMAIL_BACKEND")

    settings(base_url="https://nurture.clinic.org")
    page = admin_studio.get("/studio/admin").text
    assert _setting_cell(page, "BASE_URL") == "https://nurture.clinic.org"


def test_renaming_the_clinic_renames_the_senders_nobody_chose(
    admin_studio: Any, session: Any
) -> None:
    # The whole form, as the page shows it: the sender names read the old clinic name.
    response = admin_studio.post(URL, _form(clinic_name="Harbour Chiropractic"))
    assert response.status_code == 303, response.text
    sent = _send_confirmation(session, "renamed@example.com")
    assert "Harbour Chiropractic" in sent["From"]
    assert clinic.effective().marketing_from_name == "Harbour Chiropractic"
    assert {row.key for row in session.scalars(select(ClinicSetting))} == {"clinic_name"}
    # A sender name someone chose stays as chosen through the next rename.
    assert admin_studio.post(URL, _shown(marketing_from_name="Harbour News")).status_code == 303
    assert admin_studio.post(URL, _shown(clinic_name="Quay Clinic")).status_code == 303
    clinic.invalidate()
    now = clinic.effective()
    assert now.marketing_from_name == "Harbour News"
    assert now.transactional_from_name == "Quay Clinic"


def test_the_logo_heads_every_email_and_links_take_the_accent(
    admin_studio: Any, session: Any
) -> None:
    plain = _html(_send_confirmation(session, "plain@example.com"))
    assert "<img" not in plain
    changes = _form(clinic_logo_url="https://clinic.example/logo.png", accent_color="#1b6b36")
    assert admin_studio.post(URL, changes).status_code == 303
    html = _html(_send_confirmation(session, "logo@example.com"))
    logo = re.search(r'<img src="https://clinic.example/logo.png"[^>]*>', html)
    assert logo is not None
    assert 'alt="Example Spine &amp; Nerve Clinic"' in logo.group(0)
    assert 'width="160"' in logo.group(0)
    links = [tag for tag in re.findall(r"<a\b[^>]*>", html) if "button" not in tag]
    coloured = [tag for tag in links if "#1b6b36" in tag]
    assert coloured, links
    assert not [tag for tag in links if "#0b5cad" in tag.lower()]


@pytest.mark.parametrize("url", ["https://", "https://?ref=email", "https:///book"])
def test_a_booking_page_without_a_host_is_refused(admin_studio: Any, url: str) -> None:
    response = admin_studio.post(URL, _form(booking_url=url))
    assert response.status_code == 422
    beside = dict(re.findall(r'<p class="error" id="e-(\w+)">([^<]*)</p>', response.text))
    assert set(beside) == {"booking_url"}
    assert "such as https://clinic.example" in beside["booking_url"]
    assert clinic.effective().booking_url == "https://booking.example.com/example-spine-and-nerve"
