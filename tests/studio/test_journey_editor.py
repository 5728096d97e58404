"""A draft's goal and re-entry rule, edited in the studio as the sequence file would be."""

from __future__ import annotations

import re

from sqlalchemy import select

from nurture.sequences import drafts
from nurture.sequences.models import Sequence, SequenceVersion
from nurture.sequences.service import spec_of
from nurture.studio.models import AuditEntry
from tests.studio.conftest import Studio

SLUG = "chronic-basics"
EDIT = f"/studio/sequences/{SLUG}/edit"


def _draft(session) -> SequenceVersion:  # type: ignore[no-untyped-def]
    session.expire_all()
    sequence = session.scalar(select(Sequence).where(Sequence.slug == SLUG))
    draft = drafts.draft_of(session, sequence)
    assert draft is not None
    return draft


def _entries(session, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _checked(page: str, name: str) -> str:
    """Return the value of the radio button `name` that the page has checked."""
    found = re.findall(
        rf'<input type="radio" [^>]*name="{name}" value="([^"]*)"[^>]* checked>', page
    )
    assert len(found) == 1, found
    return found[0]


def test_the_draft_page_offers_the_goal_and_reentry_in_words_behind_the_guard(
    studio: Studio, session, sequences_loaded
) -> None:
    assert studio.post(f"/studio/sequences/{SLUG}/draft").status_code == 303
    page = studio.get(EDIT).text
    assert _checked(page, "goal") == "booked"
    assert _checked(page, "reentry") == "always"
    for words in (
        "Stop when they book a visit",
        "Stop when they come to a visit",
        "Keep going to the last email",
        "Can enter again after finishing",
        "Only once per person",
        "Can enter again after a pause",
    ):
        assert f">{words}</label>" in page
    assert f'action="{EDIT}/goal" data-guard>' in page
    assert f'action="{EDIT}/reentry" data-guard>' in page
    assert '<label for="after-days">' in page


def test_a_goal_is_saved_audited_and_shown_in_the_publish_diff(
    studio: Studio, session, sequences_loaded
) -> None:
    studio.post(f"/studio/sequences/{SLUG}/draft")
    response = studio.post(f"{EDIT}/goal", {"goal": "attended"})
    assert response.status_code == 303
    draft = _draft(session)
    assert draft.goals == ["attended"]
    assert spec_of(draft).goal == ["attended"]
    [entry] = _entries(session, "sequence.goal")
    assert entry.target == f"{SLUG} v{draft.number}"
    assert (entry.before, entry.after) == ({"goal": ["booked"]}, {"goal": ["attended"]})

    assert _checked(studio.get(EDIT).text, "goal") == "attended"
    publish = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert '<span class="add">+goal:</span>' in publish
    assert '<span class="add">+- attended</span>' in publish
    view = studio.get(f"/studio/sequences/{SLUG}").text
    assert "Goal: Stop when they book a visit" in view  # the live version
    assert "Goal: Stop when they come to a visit" in view  # the draft

    # No goal at all is `goal: []` in the file, as the after-visit sequence has.
    assert studio.post(f"{EDIT}/goal", {"goal": "none"}).status_code == 303
    assert _draft(session).goals == []
    assert "+goal: []" in "\n".join(drafts.diff(session, _draft(session)))


def test_a_goal_that_starts_the_sequence_is_refused_with_the_files_message(
    studio: Studio, session, sequences_loaded
) -> None:
    studio.post(f"/studio/sequences/{SLUG}/draft")
    assert studio.post(f"{EDIT}/trigger", {"trigger": "attended"}).status_code == 303
    refused = studio.post(f"{EDIT}/goal", {"goal": "attended"})
    assert refused.status_code == 422
    assert "The goal was not saved: this sequence starts when a person comes to a visit" in (
        refused.text
    )
    assert "it would end at once." in refused.text
    assert _checked(refused.text, "goal") == "attended"  # what was chosen, to change
    both = studio.post(f"{EDIT}/goal", {"goal": "attended,booked"})
    assert both.status_code == 422
    assert "it would end at once" in both.text
    unknown = studio.post(f"{EDIT}/goal", {"goal": "paid"})
    assert unknown.status_code == 422
    assert "The goal was not saved: choose one of the options." in unknown.text
    assert _draft(session).goals == ["booked"]
    assert _entries(session, "sequence.goal") == []
    # And from the other side: with `booked` as the goal, a booking cannot start it.
    assert studio.post(f"{EDIT}/trigger", {"trigger": "booked"}).status_code == 422


def test_a_reentry_rule_is_saved_audited_checked_and_shown_in_the_diff(
    studio: Studio, session, sequences_loaded
) -> None:
    studio.post(f"/studio/sequences/{SLUG}/draft")
    assert studio.post(f"{EDIT}/reentry", {"reentry": "never"}).status_code == 303
    draft = _draft(session)
    assert (draft.reentry, draft.reentry_after_days) == ("never", None)
    [entry] = _entries(session, "sequence.reentry")
    assert entry.before == {"reentry": "always", "reentry_after_days": None}
    assert entry.after == {"reentry": "never", "reentry_after_days": None}

    response = studio.post(f"{EDIT}/reentry", {"reentry": "after", "after_days": "180"})
    assert response.status_code == 303
    draft = _draft(session)
    assert (draft.reentry, draft.reentry_after_days) == ("after", 180)
    publish = studio.get(f"/studio/sequences/{SLUG}/publish").text
    assert '<span class="add">+reentry:</span>' in publish
    assert '<span class="add">+  after_days: 180</span>' in publish
    view = studio.get(f"/studio/sequences/{SLUG}").text
    assert "Starting again: Can enter again after finishing" in view  # the live version
    assert "Starting again: Can enter again 180 days after they last started it" in view

    for form in (
        {"reentry": "after", "after_days": "0"},
        {"reentry": "after", "after_days": ""},
        {"reentry": "after", "after_days": "3651"},
        {"reentry": "after", "after_days": "two weeks"},
    ):
        refused = studio.post(f"{EDIT}/reentry", form)
        assert refused.status_code == 422, form
        assert "The re-entry rule was not saved: the pause is a whole number of days" in (
            refused.text
        )
        typed = re.search(r'<input id="after-days" [^>]*value="([^"]*)">', refused.text)
        assert typed
        assert typed.group(1) == form["after_days"]  # kept, to correct
    unknown = studio.post(f"{EDIT}/reentry", {"reentry": "sometimes"})
    assert unknown.status_code == 422
    assert "choose one of the options" in unknown.text
    draft = _draft(session)
    assert (draft.reentry, draft.reentry_after_days) == ("after", 180)
    assert len(_entries(session, "sequence.reentry")) == 2

    # Back to the default: the pause is forgotten and the file says nothing about re-entry.
    back = studio.post(f"{EDIT}/reentry", {"reentry": "always", "after_days": "180"})
    assert back.status_code == 303
    draft = _draft(session)
    assert (draft.reentry, draft.reentry_after_days) == ("always", None)
    assert spec_of(draft).reentry is None


def test_without_a_draft_nothing_is_changed(studio: Studio, session, sequences_loaded) -> None:
    assert studio.post(f"{EDIT}/goal", {"goal": "attended"}).status_code == 409
    assert studio.post(f"{EDIT}/reentry", {"reentry": "never"}).status_code == 409
    assert _entries(session, "sequence.goal") == []
