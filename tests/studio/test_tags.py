"""Tags on people: bulk tag and untag from the list, filter by tag, reach a tag by broadcast."""

from __future__ import annotations

from sqlalchemy import select

from nurture.broadcasts.models import Broadcast
from nurture.leads.models import LeadTag
from nurture.studio.models import AuditEntry
from tests.studio.conftest import Studio
from tests.studio.test_broadcasts import GOOD
from tests.studio.test_people_bulk import leads, listed


def _tags(session) -> set[tuple[int, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return {(t.lead_id, t.tag) for t in session.scalars(select(LeadTag))}


def test_tag_filter_untag_and_broadcast_to_a_tag(studio: Studio, session) -> None:
    ids = leads(session, 4, prefix="t")
    session.commit()
    chosen = [str(i) for i in ids[:2]]
    tagged = studio.post(
        "/studio/leads/bulk", {"action": "tag", "bulk_tag": "  Spring   Event ", "lead": chosen}
    )
    assert tagged.status_code == 303
    assert _tags(session) == {(ids[0], "spring event"), (ids[1], "spring event")}
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.bulk_tag"))
    assert entry.after["changed"] == 2
    # Tagging again changes nothing and says so.
    again = studio.post(
        "/studio/leads/bulk", {"action": "tag", "bulk_tag": "spring event", "lead": chosen}
    )
    assert "already so" in studio.get(again.headers["location"]).text

    page = studio.get("/studio/leads", params={"tag": "spring event"}).text
    assert sorted(listed(page)) == sorted(ids[:2])
    assert "tagged \u201cspring event\u201d" in page
    assert '<option value="spring event" selected>spring event (2)</option>' in page
    lead_page = studio.get(f"/studio/leads/{ids[0]}").text
    assert 'href="/studio/leads?tag=spring%20event">spring event</a>' in lead_page

    # A broadcast can go to a tag; its count follows the choice.
    count = studio.get("/studio/broadcasts/audience", params={"tag": "spring event"}).json()
    assert count["matching"] == 2
    made = studio.post("/studio/broadcasts", {**GOOD, "numbness_type": [], "tag": "spring event"})
    assert made.status_code == 303
    broadcast = session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))
    assert broadcast.segment["tag"] == "spring event"
    edit = studio.get(f"/studio/broadcasts/{broadcast.id}/edit").text
    assert '<option value="spring event" selected>' in edit

    untag = studio.post(
        "/studio/leads/bulk", {"action": "untag", "bulk_tag": "spring event", "lead": chosen[:1]}
    )
    assert untag.status_code == 303
    assert _tags(session) == {(ids[1], "spring event")}


def test_a_bad_tag_changes_nothing(studio: Studio, session) -> None:
    ids = leads(session, 1, prefix="b")
    session.commit()
    bad = studio.post(
        "/studio/leads/bulk", {"action": "tag", "bulk_tag": "<b>", "lead": [str(ids[0])]}
    )
    assert (
        "Nothing was changed: the tag must use up to 40 letters"
        in studio.get(bad.headers["location"]).text
    )
    assert _tags(session) == set()
    refused = studio.get("/studio/leads", params={"tag": "!!"})
    assert refused.status_code == 400
    assert "Tag: use up to 40 letters" in refused.text
