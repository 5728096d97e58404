"""Broadcast pages: write a draft, see who gets it, test, schedule, cancel, copy, results."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import Message, MessageStatus
from nurture.leads.models import LeadStatus
from nurture.rendering import markdown
from nurture.studio.models import AuditEntry
from tests.factories import make_lead, outbox_messages

GOOD = {
    "name": "Holiday hours",
    "subject": "We are closed over the holidays",
    "preheader": "Back on 2 January",
    "markdown": "Hello {{ first_name }},\n\nWe are closed from 24 December.\n\n"
    "[[button: Book for January | {{ booking_url }}]]",
    "window_start_hour": "9",
    "window_end_hour": "19",
    "numbness_type": ["chronic", "acute"],
    "booked": "no",
}


def create(studio, **overrides) -> Broadcast:  # type: ignore[no-untyped-def]
    response = studio.post("/studio/broadcasts", {**GOOD, **overrides})
    assert response.status_code == 303, response.text
    broadcast_id = int(response.headers["location"].rsplit("/", 1)[1])
    from nurture.core.db import session_scope

    with session_scope() as s:
        broadcast = s.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return broadcast


def actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    rows = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
    return [a for a in rows if a.startswith("broadcast.")]


def test_every_field_is_checked_and_nothing_half_saved(studio, session) -> None:  # type: ignore[no-untyped-def]
    page = studio.get("/studio/broadcasts/new")
    assert page.status_code == 200
    assert 'href="/studio/broadcasts" aria-current="page"' in page.text
    response = studio.post(
        "/studio/broadcasts",
        {
            "name": "",
            "subject": "Help for your numbness",
            "markdown": "See [this](http://insecure.example)",
            "window_start_hour": "20",
            "window_end_hour": "8",
            "numbness_type": ["chronic", "sore"],
            "status": "gone",
            "booked": "perhaps",
            "last_visit_before": "yesterday",
            "signed_up_from": "2026-12-01",
            "signed_up_to": "2026-11-01",
            "sequence": "no-such-sequence",
        },
    )
    assert response.status_code == 422
    text = response.text
    for message in (
        "Name: give the broadcast a name",
        "Subject: names a condition or symptom",
        "link is not https: http://insecure.example",
        "Send until: must be later",
        "Unknown numbness type: sore",
        "Unknown status: gone",
        "Booked: choose yes, no or either",
        "Last visit before: enter a date as YYYY-MM-DD",
        "this date is before the &#39;from&#39; date",
        "there is no sequence called no-such-sequence",
    ):
        assert message in text, message
    assert 'value="Help for your numbness"' in text  # what was typed stays on screen
    assert session.scalar(select(Broadcast.id)) is None
    assert actions(session) == []


def test_live_preview_renders_what_is_typed(studio) -> None:  # type: ignore[no-untyped-def]
    response = studio.post("/studio/broadcasts/preview", GOOD)
    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == "We are closed over the holidays"
    assert "Hello Sam" in body["html"]
    assert "unsubscribe" in body["html"].lower()
    broken = studio.post("/studio/broadcasts/preview", {**GOOD, "markdown": "Hi {{ first_name }"})
    assert "html" not in broken.json()
    assert broken.json()["problems"][0]["field"] == "markdown"


def test_draft_review_test_send_schedule_and_cancel(studio, session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="robin@example.com", first_name="Robin")
    make_lead(session, email_address="alex@example.com", numbness_type="acute")
    make_lead(session, email_address="sam@example.com", status=LeadStatus.NO_CONSENT)
    make_lead(session, email_address="other@example.com", numbness_type="unsure")
    session.commit()
    broadcast = create(studio)
    page = studio.get(f"/studio/broadcasts/{broadcast.id}")
    assert page.status_code == 200
    assert "<strong>2</strong> people would get it." in page.text
    assert "1 left out: not subscribed to marketing email." in page.text
    assert "r\u2022\u2022\u2022@example.com" in page.text
    assert "robin@example.com" not in page.text
    assert "Acute or chronic leads, not booked" in page.text
    assert 'srcdoc="' in page.text  # the email, without JavaScript

    test = studio.post(f"/studio/broadcasts/{broadcast.id}/test")
    assert test.status_code == 303
    (proof,) = outbox_messages(get_settings().resolved_outbox_dir)
    assert proof["To"] == "editor@clinic.example"
    assert proof["Subject"] == "[Test] We are closed over the holidays"

    url = f"/studio/broadcasts/{broadcast.id}/schedule"
    past = studio.post(url, {"when": "later", "send_at": "2020-01-01T09:00"})
    assert past.status_code == 422
    assert "pick a time in the future" in past.text
    garbled = studio.post(url, {"when": "later", "send_at": "soon"})
    assert garbled.status_code == 422
    assert "enter a date and time" in garbled.text
    later = (clock.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert studio.post(url, {"when": "later", "send_at": later}).status_code == 303
    session.expire_all()
    scheduled = session.get(Broadcast, broadcast.id)
    assert scheduled.status == BroadcastStatus.SCHEDULED
    assert studio.get(f"/studio/broadcasts/{broadcast.id}/edit").status_code == 409
    assert studio.post(url, {"when": "now"}).status_code == 409

    cancel = studio.post(f"/studio/broadcasts/{broadcast.id}/cancel")
    assert cancel.status_code == 303
    session.expire_all()
    assert session.get(Broadcast, broadcast.id).status == BroadcastStatus.CANCELLED
    assert studio.post(f"/studio/broadcasts/{broadcast.id}/cancel").status_code == 409
    assert actions(session) == [
        "broadcast.create",
        "broadcast.test_send",
        "broadcast.schedule",
        "broadcast.cancel",
    ]
    copied = studio.post(f"/studio/broadcasts/{broadcast.id}/copy")
    assert copied.status_code == 303
    assert copied.headers["location"].endswith("/edit")
    assert "Copy of Holiday hours" in studio.get(copied.headers["location"]).text


def test_edit_send_now_then_results(studio, session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="york@example.com", timezone="America/New_York")
    session.commit()
    broadcast = create(studio)
    # Open all day, so "now" is inside the window whatever the time the test runs.
    everyone = {**GOOD, "numbness_type": [], "booked": "", "window_start_hour": "0"}
    edit = f"/studio/broadcasts/{broadcast.id}/edit"
    assert studio.get(edit).status_code == 200
    refused = studio.post(edit, {**everyone, "window_end_hour": "25"})
    assert refused.status_code == 422
    assert "Send until: enter a whole hour from 1 to 24" in refused.text
    assert studio.post(edit, {**everyone, "window_end_hour": "24"}).status_code == 303
    schedule = f"/studio/broadcasts/{broadcast.id}/schedule"
    assert studio.post(schedule, {"when": "now"}).status_code == 303
    service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    session.expire_all()
    message = session.scalar(select(Message))
    assert message.status == MessageStatus.SENT
    # The outbox page renders it again, as the lead got it.
    outbox_page = studio.get(f"/studio/outbox/{message.id}")
    assert outbox_page.status_code == 200
    assert "List-Unsubscribe" in outbox_page.text
    assert "We are closed from 24 December." in outbox_page.text
    page = studio.get(f"/studio/broadcasts/{broadcast.id}")
    assert 'id="broadcast-results"' in page.text
    assert '<span class="badge sent">sent</span>' in page.text
    assert "All leads" in page.text
    bad = studio.get(f"/studio/broadcasts/{broadcast.id}?days=forever")
    assert bad.status_code == 422
    assert "Booked within: enter a number of days" in bad.text
    assert "Holiday hours" in studio.get("/studio/broadcasts").text
    assert actions(session) == ["broadcast.create", "broadcast.edit", "broadcast.schedule"]


def test_unknown_and_impossible_ids(studio) -> None:  # type: ignore[no-untyped-def]
    assert studio.get("/studio/broadcasts/999").status_code == 404
    assert studio.get(f"/studio/broadcasts/{2**64}").status_code == 422
    assert studio.post("/studio/broadcasts/999/cancel").status_code == 404


def test_a_draft_can_be_deleted_but_not_a_sent_one(studio, session) -> None:  # type: ignore[no-untyped-def]
    broadcast = create(studio)
    assert studio.post(f"/studio/broadcasts/{broadcast.id}/delete").status_code == 303
    assert session.get(Broadcast, broadcast.id) is None


def test_the_audience_is_counted_while_it_is_chosen(studio, session) -> None:  # type: ignore[no-untyped-def]
    make_lead(session, email_address="c1@example.com", numbness_type="chronic")
    make_lead(session, email_address="c2@example.com", numbness_type="chronic")
    make_lead(session, email_address="a1@example.com", numbness_type="acute")
    make_lead(
        session, email_address="p@example.com", numbness_type="chronic", status=LeadStatus.PENDING
    )
    session.commit()
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    chronic = studio.get("/studio/broadcasts/audience", params={"numbness_type": "chronic"})
    assert chronic.status_code == 200
    assert (chronic.json()["matching"], chronic.json()["eligible"]) == (3, 2)
    assert chronic.json()["words"].startswith("2 people would get it now")
    both = studio.get(
        "/studio/broadcasts/audience",
        params=[("numbness_type", "chronic"), ("numbness_type", "acute")],
    ).json()
    assert both["eligible"] == 3
    bad = studio.get("/studio/broadcasts/audience", params={"signed_up_from": "soon"})
    assert bad.status_code == 422
    assert "signed_up_from" in bad.json()["errors"]
    # Counting is a GET: nothing is written.
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == before
    assert session.scalar(select(func.count()).select_from(Broadcast)) == 0
    page = studio.get("/studio/broadcasts/new").text
    assert 'id="audience-count"' in page


def test_previewing_a_markdown_bomb_never_holds_other_requests(studio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The preview is held inside its Markdown step until the landing page has answered: if the
    # preview ran on the event loop, the landing page could not answer and the hold would run
    # out instead of being released.
    markdown.clear_cache()
    reading, answered = threading.Event(), threading.Event()
    released: list[bool] = []
    render = markdown._MD.render

    def held(source: str, env: Any = None) -> str:
        reading.set()
        released.append(answered.wait(timeout=60))
        return render(source, env)

    monkeypatch.setattr(markdown._MD, "render", held)
    bomb = {**GOOD, "markdown": "{{" * 32_000}
    previews: list[Any] = []
    worker = threading.Thread(
        target=lambda: previews.append(studio.post("/studio/broadcasts/preview", bomb))
    )
    worker.start()
    try:
        assert reading.wait(timeout=60)
        landing = studio.client.get("/")
        answered.set()
    finally:
        answered.set()
        worker.join()
    assert landing.status_code == 200
    assert released == [True]
    [preview] = previews
    assert preview.status_code == 200
    assert preview.json()["problems"][0]["field"] == "markdown"
