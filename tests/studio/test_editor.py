"""The sequence editor: drafts, checks, live preview, test sends, publishing, YAML, simulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import func, select

from nurture.core import clock
from nurture.delivery.models import Message
from nurture.enrollments.models import Enrollment
from nurture.enrollments.service import enroll
from nurture.sequences.models import Sequence, SequenceVersion, Step
from nurture.sequences.service import live_version
from nurture.studio.models import AuditEntry
from tests.factories import make_lead
from tests.studio.conftest import Studio

SLUG = "chronic-basics"


def open_draft(studio: Studio) -> list[int]:
    """Start a draft of the chronic sequence; return its step ids in order."""
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    page = studio.get(f"/studio/sequences/{SLUG}/edit").text
    return [int(i) for i in re.findall(r"/edit/steps/(\d+)\">", page)]


def step_form(session, step_id: int, **changes: str) -> dict[str, str]:
    step = session.get(Step, step_id)
    form = {
        "key": step.key,
        "kind": step.kind,
        "delay_days": str(step.delay_days),
        "delay_minutes": str(step.delay_minutes),
        "condition": step.condition or "",
        "subject": step.subject,
        "preheader": step.preheader,
        "html": step.body_html,
        "text": step.body_text or "",
    }
    return form | changes


def versions(session) -> list[tuple[int, str]]:
    session.expire_all()
    seq = session.scalar(select(Sequence).where(Sequence.slug == SLUG))
    return [(v.number, v.state) for v in seq.versions]


def test_list_shows_every_sequence_with_state_and_counts(
    studio: Studio, session, sequences_loaded
) -> None:
    lead = make_lead(session)
    enroll(session, lead=lead, now=clock.now())
    session.commit()
    page = studio.get("/studio/sequences").text
    for slug in ("acute-basics", "chronic-basics", "intermittent-basics", "unsure-basics"):
        assert f'href="/studio/sequences/{slug}"' in page
    row = page[page.index(f"/studio/sequences/{SLUG}") :].split("</tr>")[0]
    assert "live v1" in row
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    assert cells == ["7", "1", "1", "0"]  # steps, enrolled, active, completed


def test_saving_a_step_changes_the_draft_only_and_is_audited(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    assert versions(session) == [(1, "published"), (2, "draft")]
    form = step_form(session, ids[1], subject="A new subject line", delay_days="3")
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[1]}", form)
    assert response.status_code == 303
    session.expire_all()
    step = session.get(Step, ids[1])
    assert (step.subject, step.delay_days) == ("A new subject line", 3)
    live = live_version(session, session.get(SequenceVersion, step.version_id).sequence_id)
    assert live.number == 1
    assert "A new subject line" not in [s.subject for s in live.steps]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.edit"))
    assert entry.actor == "editor@clinic.example"
    assert entry.after["subject"] == "A new subject line"
    assert entry.before["subject"] != "A new subject line"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"html": "<p>Hi</p>\n<p>{% if first_name %}oops</p>"},
            "HTML body, line 2: template syntax error",
        ),
        ({"html": "<p>{{ diagnosis }}</p>"}, "unknown variable 'diagnosis'"),
        (
            {"html": '<p><a href="http://example.com/x">x</a></p>'},
            "link is not https: http://example.com/x",
        ),
        ({"subject": "About your numbness"}, "names a condition or symptom"),
        ({"html": "<p>" + "word " * 21000 + "</p>"}, "Gmail clips emails over 102400"),
        ({"key": "Not A Key"}, "String should match pattern"),
        ({"delay_days": "-1"}, "greater than or equal to 0"),
        ({"subject": ""}, "at least 1 character"),
        ({"html": "<p>{{ clinic.nope }}</p>"}, "has no attribute 'nope'"),
    ],
)
def test_a_step_with_a_problem_is_not_saved_and_the_problem_is_named(
    studio: Studio, session, sequences_loaded, changes: dict[str, str], expected: str
) -> None:
    ids = open_draft(studio)
    before = session.get(Step, ids[0]).body_html
    form = step_form(session, ids[0], **changes)
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert response.status_code == 422
    assert "Not saved" in response.text
    assert expected in response.text.replace("&#39;", "'")
    session.expire_all()
    assert session.get(Step, ids[0]).body_html == before


def test_a_missing_text_part_is_made_from_the_body_and_can_be_filled_in(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    page = studio.get(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}").text
    # Every shipped step has no text part of its own: that is the usual case, not a warning.
    assert "no text part written" not in page
    assert "leave empty and it is made from the body" in page
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/preview"
    result = studio.client.post(
        url, data=step_form(session, ids[0], fill_text="1"), headers={"x-csrftoken": studio.token}
    ).json()
    assert result["derived_text"].strip()
    assert "<p>" not in result["derived_text"]
    form = step_form(session, ids[0], text=result["derived_text"])
    assert studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form).status_code == 303
    session.expire_all()
    assert (session.get(Step, ids[0]).body_text or "").split() == result["derived_text"].split()


def test_preview_renders_unsaved_changes_in_the_real_layout_for_each_type(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/preview"
    form = step_form(session, ids[0], html="<p>Fresh words for {{ first_name }}</p>")
    for kind in ("acute", "chronic", "intermittent", "unsure"):
        result = studio.client.post(
            url, data=form | {"numbness_type": kind}, headers={"x-csrftoken": studio.token}
        ).json()
        assert "Fresh words for Sam" in result["html"]
        assert "/unsubscribe/" in result["html"]  # the real footer
        assert "emergency" in result["text"].lower()  # the safety box of the layout
    session.expire_all()
    assert "Fresh words" not in session.get(Step, ids[0]).body_html  # preview saves nothing


def test_steps_can_be_added_reordered_and_removed(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    assert studio.post(f"/studio/sequences/{SLUG}/edit/steps").status_code == 303
    page = studio.get(f"/studio/sequences/{SLUG}/edit").text
    new_ids = [int(i) for i in re.findall(r"/edit/steps/(\d+)\">", page)]
    assert len(new_ids) == len(ids) + 1
    added = new_ids[-1]
    studio.post(f"/studio/sequences/{SLUG}/edit/steps/{added}/move", {"direction": "up"})
    session.expire_all()
    assert session.get(Step, added).position == len(ids)
    studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/delete")
    session.expire_all()
    draft = session.get(Step, added).version
    assert [s.position for s in draft.steps] == list(range(1, len(ids) + 1))
    assert ids[0] not in [s.id for s in draft.steps]
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"step.add", "step.move", "step.remove"} <= actions


def test_trigger_is_shown_edited_and_checked(studio: Studio, session, sequences_loaded) -> None:
    ids = open_draft(studio)
    page = studio.get(f"/studio/sequences/{SLUG}/edit").text
    assert re.search(r'<input type="radio" [^>]*value="signup"[^>]* checked>', page)
    assert "When they confirm their signup" in page
    # The chronic sequence ends on a booking, so a booking cannot start it.
    bad = studio.post(f"/studio/sequences/{SLUG}/edit/trigger", {"trigger": "booked"})
    assert bad.status_code == 422
    assert "it would end at once" in bad.text
    assert (
        studio.post(f"/studio/sequences/{SLUG}/edit/trigger", {"trigger": "x"}).status_code == 422
    )
    good = studio.post(f"/studio/sequences/{SLUG}/edit/trigger", {"trigger": "lapsed"})
    assert good.status_code == 303
    session.expire_all()
    assert session.get(Step, ids[0]).version.trigger == "lapsed"
    view = studio.get(f"/studio/sequences/{SLUG}").text
    assert "Started by: When they confirm their signup" in view  # the live version
    assert "Started by: When they have not been back for a while" in view  # the draft


def test_send_window_is_validated_and_saved(studio: Studio, session, sequences_loaded) -> None:
    ids = open_draft(studio)
    bad = studio.post(
        f"/studio/sequences/{SLUG}/edit/window",
        {"start_hour": "18", "end_hour": "9", "weekdays": ["1"]},
    )
    assert bad.status_code == 422
    assert "the send window must end after it starts" in bad.text
    good = studio.client.post(
        f"/studio/sequences/{SLUG}/edit/window",
        data={
            "csrftoken": studio.token,
            "start_hour": "10",
            "end_hour": "16",
            "weekdays": ["1", "2", "3"],
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    session.expire_all()
    draft = session.get(Step, ids[0]).version
    assert (draft.window_start_hour, draft.window_end_hour, draft.window_weekdays) == (
        10,
        16,
        "123",
    )


def test_send_me_a_test_goes_to_the_staff_member_marked_and_uncounted(
    studio: Studio, session, sequences_loaded, sendgrid
) -> None:
    ids = open_draft(studio)
    form = step_form(session, ids[0], subject="Testing {{ first_name }}", numbness_type="acute")
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/test", form)
    assert response.status_code == 200
    assert "Test sent to editor@clinic.example" in response.text
    (sent,) = sendgrid.state.accepted
    payload = sent
    assert payload["personalizations"][0]["to"][0]["email"] == "editor@clinic.example"
    assert payload["subject"] == "[Test] Testing Sam"
    assert payload["headers"]["X-Nurture-Test"] == "true"
    assert "nurture_message_id" not in payload.get("custom_args", {})
    assert session.scalar(select(func.count(Message.id))) == 0  # no outbox row, never counted


def test_a_failed_test_send_says_why(studio: Studio, session, sequences_loaded, sendgrid) -> None:
    ids = open_draft(studio)
    sendgrid.state.api_key = "another key"  # the provider now refuses our key
    response = studio.post(
        f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/test", step_form(session, ids[0])
    )
    assert response.status_code == 502
    assert "the test was not sent" in response.text


def test_publish_shows_the_diff_and_who_is_where_then_publishes(
    studio: Studio, session, sequences_loaded
) -> None:
    leads = [make_lead(session, email_address=f"p{i}@example.com") for i in range(3)]
    now = clock.now()
    for lead in leads:
        enroll(session, lead=lead, now=now)
    session.commit()
    ids = open_draft(studio)
    form = step_form(session, ids[0], subject="A brand new opening line")
    studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    page = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert '<span class="add">+  subject: A brand new opening line</span>' in page
    assert '<span class="del">-  subject:' in page
    assert "<strong>3</strong> people are in this sequence now" in page
    row = page[page.index("<td>v1</td>") :].split("</tr>")[0]
    assert "step 1" in row
    assert '<td class="num">3</td>' in row
    response = studio.post(f"/studio/sequences/{SLUG}/publish")
    assert response.status_code == 303
    assert versions(session) == [(1, "published"), (2, "published")]
    # People already in it stay on version 1 unless asked to move.
    assert {e.version.number for e in session.scalars(select(Enrollment))} == {1}
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "sequence.publish"))
    assert entry.after["steps"][0]["subject"] == "A brand new opening line"


def test_publish_can_move_people_onto_the_new_version(
    studio: Studio, session, sequences_loaded
) -> None:
    lead = make_lead(session)
    enroll(session, lead=lead, now=clock.now())
    session.commit()
    ids = open_draft(studio)
    studio.post(
        f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}",
        step_form(session, ids[0], subject="Moved people read this"),
    )
    response = studio.post(f"/studio/sequences/{SLUG}/publish", {"move_people": "1"})
    assert response.status_code == 303
    session.expire_all()
    enrollment = session.scalar(select(Enrollment))
    assert enrollment.version.number == 2
    message = session.scalar(select(Message))
    assert session.get(Step, message.step_id).subject == "Moved people read this"


def test_a_draft_with_a_broken_step_cannot_be_published(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    broken = session.get(Step, ids[2])
    broken.body_html, broken.body_markdown = "<p>{{ broken </p>", None
    session.commit()
    page = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert "cannot be published yet" in page
    response = studio.post(f"/studio/sequences/{SLUG}/publish")
    assert response.status_code == 422
    assert versions(session) == [(1, "published"), (2, "draft")]


def test_yaml_export_and_import_round_trip_through_the_studio(
    studio: Studio, session, sequences_loaded
) -> None:
    exported = studio.get(f"/studio/sequences/{SLUG}/export")
    assert exported.headers["content-disposition"] == f'attachment; filename="{SLUG}.yml"'
    data = yaml.safe_load(exported.text)
    assert data["slug"] == SLUG
    data["steps"][0]["subject"] = "Imported subject"
    response = studio.client.post(
        f"/studio/sequences/{SLUG}/import",
        data={"csrftoken": studio.token},
        files={"file": ("chronic.yml", yaml.safe_dump(data).encode(), "application/yaml")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert versions(session) == [(1, "published"), (2, "draft")]
    draft_yaml = yaml.safe_load(studio.get(f"/studio/sequences/{SLUG}/export?version=draft").text)
    assert draft_yaml == data  # lossless
    diff = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert diff.count('class="add"') == 1  # only the changed subject differs


def test_a_bad_yaml_file_is_refused_with_the_reason(
    studio: Studio, session, sequences_loaded
) -> None:
    for content, reason in (
        (b"slug: [unclosed", "bad YAML"),
        (b"slug: other\nname: x\naudience: y\nsteps: []\n", "steps"),
        (b"\xff\xfe", "not UTF-8"),
    ):
        studio.get(f"/studio/sequences/{SLUG}")
        response = studio.client.post(
            f"/studio/sequences/{SLUG}/import",
            data={"csrftoken": studio.token},
            files={"file": ("x.yml", content, "application/yaml")},
        )
        assert "Not imported" in response.text, content
        assert reason in response.text, content
    assert versions(session) == [(1, "published")]


def test_simulator_applies_windows_weekdays_and_closures(
    studio: Studio, session, sequences_loaded, settings
) -> None:
    settings(clinic_closures="2027-01-08")
    page = studio.get(
        f"/studio/simulator?sequence={SLUG}&day=2027-01-04&at=21:00&timezone=Europe/Berlin"
    ).text
    table = page[page.index('id="timeline"') :]
    rows = re.findall(
        r"<tr><td>(\d+)</td>.*?<td>(\w{3} \d\d \w{3} \d{4})</td><td>(\d\d:\d\d)</td>", table, re.S
    )
    assert rows[0] == ("1", "Mon 04 Jan 2027", "21:00")  # the first email goes at once
    seq = session.scalar(select(Sequence).where(Sequence.slug == SLUG))
    live = live_version(session, seq.id)
    assert len(rows) == len(live.steps)
    for _, day, at in rows[1:]:
        assert "09:00" <= at < "19:00"
        assert day != "Fri 08 Jan 2027"
    assert "Europe/Berlin" in page
    bad = studio.get(
        f"/studio/simulator?sequence={SLUG}&day=2027-01-04&at=21:00&timezone=Mars/Base"
    )
    assert bad.status_code == 422
    assert "No time zone is called &#39;Mars/Base&#39;" in bad.text


def test_simulator_matches_what_delivery_plans(studio: Studio, session, sequences_loaded) -> None:
    from zoneinfo import ZoneInfo

    from nurture.sequences.simulate import simulate

    confirmed = datetime(2027, 1, 4, 20, 0, tzinfo=UTC)
    lead = make_lead(session, timezone="Europe/Berlin")
    with clock.frozen_at(confirmed):
        enrollment = enroll(session, lead=lead, now=confirmed)
        session.commit()
    planned = simulate(enrollment.version, confirmed_at=confirmed, tz=ZoneInfo("Europe/Berlin"))
    first = session.scalar(select(Message))
    assert first.due_at == planned[0].due_at


def test_a_new_sequence_starts_as_a_draft_and_goes_live_when_published(
    studio: Studio, session, sequences_loaded
) -> None:
    form = {"name": "Back after a break", "slug": "welcome-back", "audience": "returning"}
    response = studio.post("/studio/sequences", form)
    assert response.headers["location"] == "/studio/sequences/welcome-back/edit"
    listing = studio.get("/studio/sequences").text
    row = listing[listing.index("/studio/sequences/welcome-back") :].split("</tr>")[0]
    assert "not live" in row
    assert "draft v1" in row
    again = studio.post("/studio/sequences", form)
    assert "exists already" in studio.get(again.headers["location"]).text
    bad = studio.post("/studio/sequences", form | {"slug": "Not A Slug"})
    assert "Not created: slug" in studio.get(bad.headers["location"]).text
    assert studio.post("/studio/sequences/welcome-back/publish").status_code == 303
    session.expire_all()
    created = session.scalar(select(Sequence).where(Sequence.slug == "welcome-back"))
    assert live_version(session, created.id).number == 1
    assert created.audience == "returning"


def test_simulator_shows_subjects_as_the_lead_reads_them(
    studio: Studio, session, sequences_loaded
) -> None:
    page = studio.get(f"/studio/simulator?sequence={SLUG}&day=2027-01-04&at=10:00&timezone=UTC")
    assert "Welcome, Sam: your first short read" in page.text
    assert "{{ first_name }}" not in page.text


HOSTILE_STEPS = [
    ("<p>{{ 7**(10**7) }}</p>", "HTML body, line 1: the template computes a number too large"),
    ("<p>\n{{ 'x' * 10**8 }}</p>", "HTML body, line 2: the template builds a text or list longer"),
    (
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ b }}{% endfor %}{% endfor %}",
        "the template loops, calls or computes more than",
    ),
    ("<p>{{ 'x'|center(10**9) }}</p>", "the template builds a text or list longer"),
    ("<p>{{ '%0100000000d'|format(1) }}</p>", "the template builds a text or list longer"),
    (
        "{% if not first_name %}{% for i in range(8) %}{{ 'x' * 250000 }}{% endfor %}"
        "{% endif %}<p>Hi</p>",
        "writes more than 256 KiB (for a lead with an empty first name)",
    ),
    ("<p>{{ 1 / 0 }}</p>", "the template failed to render: division by zero"),
]


@pytest.mark.parametrize(("html", "expected"), HOSTILE_STEPS)
def test_a_hostile_template_is_refused_at_the_step_in_save_and_preview(
    studio: Studio, session, sequences_loaded, html: str, expected: str
) -> None:
    ids = open_draft(studio)
    before = session.get(Step, ids[0]).body_html
    form = step_form(session, ids[0], html=html)
    saved = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert saved.status_code == 422
    assert expected in saved.text.replace("&#39;", "'")
    url = f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/preview"
    preview = studio.client.post(url, data=form, headers={"x-csrftoken": studio.token})
    assert preview.status_code == 200
    messages = [p["message"] for p in preview.json()["problems"] if p["severity"] == "error"]
    assert any(expected in m for m in messages), messages
    session.expire_all()
    assert session.get(Step, ids[0]).body_html == before


def test_the_size_check_applies_to_the_largest_sample_lead(
    studio: Studio, session, sequences_loaded
) -> None:
    ids = open_draft(studio)
    html = "{% if first_name|length > 50 %}{{ 'x' * 150000 }}{% endif %}<p>Hi {{ first_name }}</p>"
    form = step_form(session, ids[0], html=html)
    response = studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}", form)
    assert response.status_code == 422
    assert "for a lead with a 100-character first name; Gmail clips emails over 102400" in (
        response.text
    )
