"""List-Unsubscribe advertises only the signed one-click link, and that link works at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.leads.models import LeadStatus
from nurture.outbox.models import Message, MessageStatus, Stream
from tests.factories import make_lead, outbox_messages

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin


def _send_welcome(session):  # type: ignore[no-untyped-def]
    lead = make_lead(session, numbness_type="acute")
    enrollments.enroll(session, lead=lead, now=NOW)
    session.commit()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    [welcome] = outbox_messages(get_settings().resolved_outbox_dir)
    return lead, welcome


def test_header_holds_only_the_signed_https_link(session, sequences_loaded) -> None:
    lead, welcome = _send_welcome(session)
    header = str(welcome["List-Unsubscribe"])
    assert "mailto" not in header.lower()
    assert f"unsubscribe-{lead.id}" not in header
    # One https URI whose only variable part is the signed token.
    assert re.fullmatch(r"<https://nurture\.test/unsubscribe/[A-Za-z0-9_.\-]+>", header), header
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_click_post_to_the_advertised_link_unsubscribes_at_once(
    client, session, sequences_loaded
) -> None:
    lead, welcome = _send_welcome(session)
    target = str(welcome["List-Unsubscribe"]).strip("<>")
    # What a mailbox provider sends (RFC 8058): no cookie, no page visit first.
    response = client.post(
        target.removeprefix("https://nurture.test"),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    session.expire_all()
    assert lead.status == LeadStatus.UNSUBSCRIBED
    pending = session.scalars(
        select(Message).where(
            Message.lead_id == lead.id,
            Message.stream == Stream.MARKETING,
            Message.status == MessageStatus.PENDING,
        )
    ).all()
    assert pending == []
    # Nothing more reaches the lead from the drip, however long the tick runs.
    with clock.frozen_at(max(NOW, datetime.now(UTC)) + timedelta(days=30)):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    subjects = [m["Subject"] for m in outbox_messages(get_settings().resolved_outbox_dir)]
    assert subjects[1:] == ["You're unsubscribed"]
