"""A step's A/B test in the studio: add, edit, preview, test-send and remove variants."""

from __future__ import annotations

import re

from sqlalchemy import select

from nurture.sequences.models import Step, StepVariant
from nurture.staff.models import AuditEntry
from tests.studio.conftest import Studio
from tests.studio.test_editor import SLUG, open_draft, step_form


def _url(step_id: int) -> str:
    return f"/studio/sequences/{SLUG}/edit/steps/{step_id}"


def _arms(session, step_id: int) -> list[StepVariant]:  # type: ignore[no-untyped-def]
    session.expire_all()
    step = session.get(Step, step_id)
    return list(step.variants)


def _start_test(studio: Studio, session) -> tuple[int, list[StepVariant]]:  # type: ignore[no-untyped-def]
    (step_id, *_) = open_draft(studio)
    started = studio.post(_url(step_id) + "/variants")
    assert started.status_code == 303
    arms = _arms(session, step_id)
    assert started.headers["location"] == f"{_url(step_id)}/variants/{arms[-1].id}"
    return step_id, arms


def _variant_form(**changes: str) -> dict[str, str]:
    form = {"key": "b", "subject": "", "preheader": "", "format": "step", "markdown": ""}
    return form | {"html": "", "text": ""} | changes


def test_starting_a_test_adds_two_variants_and_the_step_page_lists_them(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, arms = _start_test(studio, session)
    step = session.get(Step, step_id)
    assert [(v.key, v.subject) for v in arms] == [("a", step.subject), ("b", step.subject)]
    page = studio.get(_url(step_id)).text
    assert 'id="variants"' in page
    assert "Add a variant" in page
    assert "End the test" in page
    assert f'href="{_url(step_id)}/variants/{arms[1].id}">b</a>' in page
    assert '<select id="variant" name="variant" form="step-form"' in page
    assert re.search(r'aria-label="Remove variant a" disabled', page)  # a test keeps two
    assert "A/B test: 2 variants" in studio.get(f"/studio/sequences/{SLUG}/edit").text
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.variant_add"))
    assert entry.target.endswith("variant a and b")
    assert [v["key"] for v in entry.after["variants"]] == ["a", "b"]


def test_up_to_four_variants(studio: Studio, session, sequences_loaded) -> None:
    step_id, _ = _start_test(studio, session)
    for _ in range(2):
        assert studio.post(_url(step_id) + "/variants").status_code == 303
    assert [v.key for v in _arms(session, step_id)] == ["a", "b", "c", "d"]
    assert "Add a variant" not in studio.get(_url(step_id)).text
    refused = studio.post(_url(step_id) + "/variants")
    assert refused.status_code == 303
    assert "at most 4 variants" in studio.get(refused.headers["location"]).text
    assert len(_arms(session, step_id)) == 4


def test_editing_a_variant_saves_only_what_it_changes_and_is_audited(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, arms = _start_test(studio, session)
    url = f"{_url(step_id)}/variants/{arms[1].id}"
    page = studio.get(url).text
    assert '<div id="markdown-body">' in page  # every body field, usable without JavaScript
    assert 'data-md="bold"' in page
    body = "# Book this week\n\n[[button: Book now | {{ booking_url }}]]"
    form = _variant_form(key="book-now", subject="Book this week", format="markdown", markdown=body)
    saved = studio.post(url, form)
    assert saved.status_code == 303
    (_, arm) = _arms(session, step_id)
    assert (arm.key, arm.subject, arm.preheader, arm.body_markdown) == (
        "book-now",
        "Book this week",
        None,
        body,
    )
    assert 'class="button"' in (arm.body_html or "")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.variant_edit"))
    assert entry.before["key"] == "b"
    assert entry.after["key"] == "book-now"
    assert entry.after["markdown"] == body
    # The draft's file says so, and publishing keeps it.
    diff = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert "+  - key: book-now" in diff
    assert studio.post(f"/studio/sequences/{SLUG}/publish").status_code == 303
    exported = studio.get(f"/studio/sequences/{SLUG}/export").text
    assert "  - key: book-now\n    subject: Book this week\n    markdown: |-\n" in exported


def test_a_variant_with_problems_is_not_saved_and_names_the_variant(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, arms = _start_test(studio, session)
    url = f"{_url(step_id)}/variants/{arms[1].id}"
    cases = [
        (
            _variant_form(subject="Hi {{ diagnosis }}"),
            "Variant b: Subject, line 1: unknown variable",
        ),
        (_variant_form(), "Variant b: variant &#39;b&#39; changes nothing"),
        (_variant_form(key="a", subject="New"), "Variant a: key: another variant is called"),
        (_variant_form(key="Not OK", subject="New"), "a variant key is 1 to 40 lowercase"),
        (
            _variant_form(format="html", html="<p>{{ ''.__class__.__mro__ }}</p>"),
            "Variant b: HTML body, line 1: the template tries to reach Python internals",
        ),
    ]
    for form, message in cases:
        response = studio.post(url, form)
        assert response.status_code == 422, message
        assert message in response.text
    assert [(v.key, v.subject) for v in _arms(session, step_id)] == [
        (v.key, v.subject) for v in arms
    ]
    assert (
        session.scalar(select(AuditEntry).where(AuditEntry.action == "step.variant_edit")) is None
    )


def test_preview_and_test_send_of_a_variant(
    studio: Studio, session, sequences_loaded, sendgrid
) -> None:
    step_id, arms = _start_test(studio, session)
    url = f"{_url(step_id)}/variants/{arms[1].id}"
    form = _variant_form(subject="Variant {{ first_name }}", preheader="Only in b")
    preview = studio.post(url + "/preview", {**form, "numbness_type": "acute"}).json()
    assert (preview["subject"], preview["preheader"]) == ("Variant Sam", "Only in b")
    response = studio.post(url + "/test", {**form, "numbness_type": "acute"})
    assert response.status_code == 200
    assert "Test of variant b sent to editor@clinic.example" in response.text
    (sent,) = sendgrid.state.accepted
    assert sent["subject"] == "[Test] Variant Sam"
    assert _arms(session, step_id)[1].subject == arms[1].subject  # a test saves nothing
    # The step's own page previews and tests any saved variant over the step as typed.
    studio.post(url, form)
    step_url = _url(step_id)
    typed = step_form(session, step_id, preheader="Typed on the step")
    shown = studio.post(step_url + "/preview", {**typed, "variant": "b"}).json()
    assert (shown["subject"], shown["preheader"]) == ("Variant Sam", "Only in b")
    own = studio.post(step_url + "/preview", {**typed, "variant": "a"}).json()
    assert own["preheader"] == "Typed on the step"
    sent_b = studio.post(step_url + "/test", {**typed, "variant": "b"})
    assert "Test variant b sent" in sent_b.text
    assert sendgrid.state.accepted[-1]["subject"] == "[Test] Variant Sam"


def test_removing_a_variant_and_ending_the_test(studio: Studio, session, sequences_loaded) -> None:
    step_id, arms = _start_test(studio, session)
    refused = studio.post(f"{_url(step_id)}/variants/{arms[0].id}/delete")
    assert "at least 2 variants" in studio.get(refused.headers["location"]).text
    studio.post(_url(step_id) + "/variants")
    c = _arms(session, step_id)[2]
    page = studio.get(_url(step_id)).text
    assert 'data-confirm="Remove variant c from the draft?' in page
    assert studio.post(f"{_url(step_id)}/variants/{c.id}/delete").status_code == 303
    assert [v.key for v in _arms(session, step_id)] == ["a", "b"]
    removed = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.variant_remove"))
    assert removed.before["key"] == "c"
    assert 'data-confirm="End the test?' in page
    assert studio.post(_url(step_id) + "/variants/end").status_code == 303
    assert _arms(session, step_id) == []
    ended = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.test_end"))
    assert [v["key"] for v in ended.before["variants"]] == ["a", "b"]
    assert "Start an A/B test" in studio.get(_url(step_id)).text


def test_variants_of_a_step_outside_the_draft_are_not_found(
    studio: Studio, session, sequences_loaded
) -> None:
    step_id, arms = _start_test(studio, session)
    other = open_draft(studio)[1]
    assert studio.get(f"{_url(other)}/variants/{arms[0].id}").status_code == 404
    assert studio.post(f"{_url(other)}/variants/{arms[0].id}/delete").status_code == 404
    assert studio.get(f"{_url(step_id)}/variants/999999").status_code == 404


def test_saving_the_step_keeps_its_variants(studio: Studio, session, sequences_loaded) -> None:
    step_id, arms = _start_test(studio, session)
    saved = studio.post(_url(step_id), step_form(session, step_id, subject="Reworded"))
    assert saved.status_code == 303
    assert [v.key for v in _arms(session, step_id)] == ["a", "b"]
