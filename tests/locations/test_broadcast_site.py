"""A broadcast aimed at one site: only its people get it, each with that site's booking page."""

from __future__ import annotations

from sqlalchemy import select

from nurture.broadcasts.models import Broadcast
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.outbox.models import Message, MessageStatus
from tests.factories import make_lead, outbox_messages, text_part
from tests.studio.test_broadcasts import GOOD

ALL_DAY = {**GOOD, "numbness_type": [], "booked": "", "window_start_hour": "0"}
ALL_DAY["window_end_hour"] = "24"


def test_a_broadcast_to_south_reaches_south_only(admin_studio, session, two_sites) -> None:  # type: ignore[no-untyped-def]
    for email, site in (("s@example.com", "south"), ("n@example.com", "north"), ("m@x.com", None)):
        lead = make_lead(session, email_address=email)
        lead.location_key = site
    session.commit()
    new = admin_studio.get("/studio/broadcasts/new").text
    assert 'value="south"' in new  # the location is among who gets it
    audience = admin_studio.get("/studio/broadcasts/audience", params={"location": "south"})
    assert audience.json()["matching"] == 1
    # The preview shows the email as South's people get it, with South's booking page.
    shown = admin_studio.post("/studio/broadcasts/preview", {**ALL_DAY, "location": ["south"]})
    assert "https://book.example.com/south?" in shown.json()["html"]
    both = admin_studio.post("/studio/broadcasts/preview", {**ALL_DAY, "location": []})
    assert "https://book.example.com/south?" not in both.json()["html"]
    made = admin_studio.post("/studio/broadcasts", {**ALL_DAY, "location": ["south"]})
    assert made.status_code == 303, made.text
    broadcast = session.scalars(select(Broadcast)).one()
    assert broadcast.segment["locations"] == ["south"]
    draft = admin_studio.get(f"/studio/broadcasts/{broadcast.id}").text
    assert "https://book.example.com/south?" in draft
    listed = admin_studio.get("/studio/broadcasts", params={"location": "south"}).text
    assert f'/studio/broadcasts/{broadcast.id}"' in listed
    elsewhere = admin_studio.get("/studio/broadcasts", params={"location": "north"}).text
    assert f'/studio/broadcasts/{broadcast.id}"' not in elsewhere
    scheduled = admin_studio.post(f"/studio/broadcasts/{broadcast.id}/schedule", {"when": "now"})
    assert scheduled.status_code == 303
    service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    session.expire_all()
    sent = session.scalars(select(Message).where(Message.broadcast_id == broadcast.id)).all()
    assert [(m.to_email or m.lead.email, m.status) for m in sent] == [
        ("s@example.com", MessageStatus.SENT)
    ]
    [email] = outbox_messages(get_settings().resolved_outbox_dir)
    text = text_part(email)
    assert "https://book.example.com/south?" in text
    assert "9 South Street, Shelbyville" in text
