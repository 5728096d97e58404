"""Safe editing: duplicate, history, restore, confirm prompts, undo, error pages, phone width."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nurture.appointments.schemas import AppointmentIn
from nurture.appointments.service import book
from nurture.core import clock
from nurture.sequences.models import Sequence, SequenceVersion, VersionState
from nurture.sequences.service import live_version, spec_of
from nurture.studio.models import AuditEntry
from tests.browser import browser
from tests.processes import serving_web
from tests.studio.conftest import PASSWORD, Studio

SLUG = "chronic-basics"


def sequence(session, slug: str = SLUG) -> Sequence:
    session.expire_all()
    found = session.scalar(select(Sequence).where(Sequence.slug == slug))
    assert found is not None
    return found


def draft(session, slug: str = SLUG) -> SequenceVersion | None:
    return session.scalar(
        select(SequenceVersion).where(
            SequenceVersion.sequence_id == sequence(session, slug).id,
            SequenceVersion.state == VersionState.DRAFT,
        )
    )


def audit_actions(session) -> list[tuple[str, str]]:
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.target) for e in entries]


def publish_change(studio: Studio, session, subject: str) -> int:
    """Start a draft, change the first step's subject in it, publish it; return its number."""
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    version = draft(session)
    assert version is not None
    version.steps[0].subject = subject
    session.commit()
    assert studio.post(f"/studio/sequences/{SLUG}/publish").status_code == 303
    return version.number


def test_duplicate_makes_a_new_sequence_with_a_draft_and_an_audit_entry(
    studio: Studio, session, sequences_loaded
) -> None:
    source = sequence(session)
    live = live_version(session, source.id)
    assert live is not None
    response = studio.post(
        f"/studio/sequences/{SLUG}/duplicate",
        {"new_slug": "chronic-spring", "new_name": "Chronic, spring offer"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/studio/sequences/chronic-spring/edit"
    copy = sequence(session, "chronic-spring")
    assert copy.name == "Chronic, spring offer"
    assert copy.audience == source.audience
    assert [(v.number, v.state) for v in copy.versions] == [(1, "draft")]
    copied = spec_of(copy.versions[0])
    assert copied.steps == spec_of(live).steps
    assert ("sequence.duplicate", "chronic-spring v1") in audit_actions(session)
    assert "Copied" in studio.get("/studio/sequences/chronic-spring/edit").text


def test_duplicate_refuses_a_taken_or_bad_slug_and_writes_nothing(
    studio: Studio, session, sequences_loaded
) -> None:
    before = audit_actions(session)
    taken = studio.post(
        f"/studio/sequences/{SLUG}/duplicate", {"new_slug": SLUG, "new_name": "Again"}
    )
    assert taken.status_code == 303
    assert "exists already" in studio.get(f"/studio/sequences/{SLUG}").text
    bad = studio.post(
        f"/studio/sequences/{SLUG}/duplicate", {"new_slug": "Not A Slug!", "new_name": "X"}
    )
    assert bad.status_code == 303
    assert "Not copied" in studio.get(f"/studio/sequences/{SLUG}").text
    assert audit_actions(session) == before
    assert session.scalar(select(Sequence).where(Sequence.name == "Again")) is None


def test_history_lists_every_published_version_with_who_published_it(
    studio: Studio, session, sequences_loaded
) -> None:
    number = publish_change(studio, session, "A newer subject")
    page = studio.get(f"/studio/sequences/{SLUG}/history")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>v(\d+)</td>", page.text)
    assert rows == [str(number), "1"]
    assert "editor@clinic.example" in page.text  # who published v2, from the audit log
    assert "not recorded (loaded from files)" in page.text  # v1 came from `sequences load`
    compared = studio.get(f"/studio/sequences/{SLUG}/history?compare=1")
    assert "Version 1 compared with the live version" in compared.text
    assert "A newer subject" in compared.text


def test_restore_makes_a_draft_equal_to_the_old_version(
    studio: Studio, session, sequences_loaded
) -> None:
    old = spec_of(live_version(session, sequence(session).id))  # type: ignore[arg-type]
    publish_change(studio, session, "A newer subject")
    response = studio.post(f"/studio/sequences/{SLUG}/history/1/restore")
    assert response.status_code == 303
    restored = draft(session)
    assert restored is not None
    assert spec_of(restored) == old
    assert ("sequence.restore", f"{SLUG} v{restored.number}") in audit_actions(session)


def test_restore_refuses_to_replace_a_draft_unless_confirmed(
    studio: Studio, session, sequences_loaded
) -> None:
    publish_change(studio, session, "A newer subject")
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    editing = draft(session)
    assert editing is not None
    editing.steps[0].subject = "Work in progress"
    session.commit()
    page = studio.get(f"/studio/sequences/{SLUG}/history").text
    assert 'data-confirm="Discard draft v3 and restore version 1' in page

    refused = studio.post(f"/studio/sequences/{SLUG}/history/1/restore")
    assert refused.status_code == 409
    assert "Nothing was restored" in refused.text
    kept = draft(session)
    assert kept is not None
    assert kept.steps[0].subject == "Work in progress"

    confirmed = studio.post(f"/studio/sequences/{SLUG}/history/1/restore", {"discard_draft": "yes"})
    assert confirmed.status_code == 303
    replaced = draft(session)
    assert replaced is not None
    assert replaced.steps[0].subject != "Work in progress"


def test_restoring_a_missing_version_is_a_404(studio: Studio, session, sequences_loaded) -> None:
    assert studio.post(f"/studio/sequences/{SLUG}/history/99/restore").status_code == 404


def test_destructive_forms_ask_first(studio: Studio, session, sequences_loaded) -> None:
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    edit = studio.get(f"/studio/sequences/{SLUG}/edit").text
    assert re.search(r'action="[^"]*/edit/discard" data-confirm="Discard draft v\d+\?', edit)
    assert re.search(r'action="[^"]*/edit/window" data-guard', edit)

    result = book(
        session,
        data=AppointmentIn(
            email="pat@example.com", starts_at=clock.now() + timedelta(days=3), timezone="UTC"
        ),
        now=clock.now(),
    )
    session.commit()
    lead_id = result.appointment.lead_id
    page = studio.get(f"/studio/leads/{lead_id}").text
    assert re.search(r'/cancel" data-confirm="Cancel this visit\?', page)
    assert re.search(r'value="unsubscribe"[^>]*data-confirm="Unsubscribe ', page)
    assert re.search(r'value="remove"[^>]*data-confirm="Take ', page)


def test_undo_after_removing_a_step_puts_it_back(studio: Studio, session, sequences_loaded) -> None:
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    version = draft(session)
    assert version is not None
    before = spec_of(version)
    second = version.steps[1]
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{second.id}/delete")
    assert response.status_code == 303
    assert len(draft(session).steps) == len(before.steps) - 1  # type: ignore[union-attr]

    page = studio.get(f"/studio/sequences/{SLUG}/edit").text
    assert f"Removed &#39;{before.steps[1].key}&#39;." in page
    undo = re.search(r'<form method="post" action="([^"]+/undo/\d+)">', page)
    assert undo, "the flash offers no Undo"
    assert "/undo/" not in studio.get(f"/studio/sequences/{SLUG}/edit").text  # offered once

    assert studio.post(undo.group(1)).status_code == 303
    restored = draft(session)
    assert restored is not None
    assert spec_of(restored) == before
    actions = [a for a, _ in audit_actions(session)]
    assert actions[-2:] == ["step.remove", "step.restore"]

    again = studio.post(undo.group(1))  # the step is back: a second undo changes nothing
    assert again.status_code == 303
    assert spec_of(draft(session)) == before  # type: ignore[arg-type]


def test_undo_refuses_an_entry_from_another_draft(
    studio: Studio, session, sequences_loaded
) -> None:
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    version = draft(session)
    assert version is not None
    step = version.steps[1]
    assert studio.post(f"/studio/sequences/{SLUG}/edit/steps/{step.id}/delete").status_code == 303
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.remove"))
    assert studio.post(f"/studio/sequences/{SLUG}/edit/discard").status_code == 303
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    other = [s.slug for s in session.scalars(select(Sequence)) if s.slug != SLUG][0]
    assert studio.post(f"/studio/sequences/{other}/draft").status_code == 303
    count = len(draft(session, other).steps)  # type: ignore[union-attr]
    assert studio.post(f"/studio/sequences/{other}/edit/undo/{entry.id}").status_code == 303
    assert len(draft(session, other).steps) == count  # type: ignore[union-attr]


def test_sign_in_and_expired_form_pages_use_the_studio_layout(
    client, studio: Studio, sequences_loaded
) -> None:
    expired = studio.client.post(
        f"/studio/sequences/{SLUG}/draft", data={"csrftoken": "forged"}, follow_redirects=False
    )
    assert expired.status_code == 403
    assert "This form has expired" in expired.text
    assert 'aria-label="Studio"' in expired.text
    assert "/static/studio.js" in expired.text

    client.cookies.clear()
    signed_out = client.post("/studio/logout", data={"csrftoken": "x"}, follow_redirects=False)
    assert signed_out.status_code == 401
    assert "Sign in needed" in signed_out.text
    assert 'aria-label="Studio"' in signed_out.text
    assert 'href="/studio/login"' in signed_out.text


PAGES_AT_PHONE_WIDTH = (
    "/studio/sequences",
    f"/studio/sequences/{SLUG}",
    f"/studio/sequences/{SLUG}/history",
    f"/studio/sequences/{SLUG}/edit",
    "/studio/results",
    f"/studio/results/{SLUG}",
    "/studio/admin",
    "/studio/visits",
    "/studio/leads",
    "/studio/outbox",
)


@pytest.mark.slow
def test_phone_width_pages_fit_and_the_editor_guards_unsaved_changes(
    tmp_path: Path, session, sequences_loaded, make_staff
) -> None:
    make_staff("admin@clinic.example", "admin")
    booked = book(
        session,
        data=AppointmentIn(
            email="a.rather.long.address.for.a.phone@example.com",
            first_name="Pat",
            starts_at=clock.now() + timedelta(days=1),
            timezone="Europe/Berlin",
        ),
        now=clock.now(),
    )
    session.commit()
    lead_page = f"/studio/leads/{booked.appointment.lead_id}"
    outbox = str(tmp_path / "outbox")
    with serving_web(tmp_path, email_backend="outbox", outbox_dir=outbox) as base, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        page.goto(base + "/studio/login")
        page.get_by_label("Email").fill("admin@clinic.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Sequences").wait_for()
        page.goto(base + f"/studio/sequences/{SLUG}")
        page.get_by_role("button", name="Edit (start a draft)").click()
        page.get_by_role("heading", name="Editing").wait_for()

        too_wide = {}
        for path in (*PAGES_AT_PHONE_WIDTH, lead_page):
            response = page.goto(base + path)
            assert response is not None
            assert response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                too_wide[path] = width
        assert too_wide == {}

        # Typing in the step editor and then leaving asks first; saving does not.
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
        page.goto(base + f"/studio/sequences/{SLUG}/edit")
        page.get_by_role("link", name="welcome").click()
        subject = page.get_by_label("Subject")
        subject.click()
        subject.press("End")
        subject.type(" (edited)")
        page.get_by_role("link", name="Sequences").first.click()
        page.wait_for_timeout(500)
        assert dialogs == ["beforeunload"]
        assert "/edit/steps/" in page.url  # dismissing the prompt kept the page and its text
        assert subject.input_value().endswith(" (edited)")

        page.get_by_role("button", name="Save step").click()
        page.wait_for_load_state()
        page.get_by_role("link", name="Sequences").first.click()
        page.get_by_role("heading", name="Sequences").wait_for()
        assert dialogs == ["beforeunload"]


def test_a_live_step_is_previewed_without_starting_a_draft(
    studio: Studio, session, sequences_loaded
) -> None:

    page = studio.get("/studio/sequences/chronic-basics").text
    step_id = re.findall(r'/studio/sequences/chronic-basics/steps/(\d+)"', page)[0]
    versions = session.scalar(select(func.count()).select_from(SequenceVersion))
    shown = studio.get(f"/studio/sequences/chronic-basics/steps/{step_id}?numbness_type=acute")
    assert shown.status_code == 200
    assert "What people get now (live version 1), read-only" in shown.text
    assert "Subject:</strong> Welcome, Sam: your first short read" in shown.text
    assert "srcdoc=" in shown.text
    assert session.scalar(select(func.count()).select_from(SequenceVersion)) == versions
    assert studio.get("/studio/sequences/chronic-basics/steps/999999").status_code == 404
