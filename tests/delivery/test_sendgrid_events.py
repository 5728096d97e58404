"""SendGrid's events as SendGrid sends them: whose fault a drop is, machine opens, blocks, groups.

Events are built from SendGrid's Event Webhook Reference
(twilio.com/docs/sendgrid/for-developers/tracking-events/event): the `dropped` reasons it lists
("Invalid SMTPAPI header", "Spam Content (if Spam Checker app is enabled)", "Recipient List over
Package Quota", "Unsubscribed Address", "Bounced Address", "Spam Reporting Address", "Invalid"),
`sg_machine_open` on opens, bounce `type` ("bounce" or "blocked"), and `asm_group_id` on
group_unsubscribe / group_resubscribe.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from nurture.broadcasts.results import broadcast_results
from nurture.leads.models import Lead, LeadStatus
from nurture.outbox.models import DeliveryEvent, Suppression
from tests.broadcasts.test_planning import NOW, make_broadcast, rows
from tests.broadcasts.test_sending import YORK, tick
from tests.delivery.test_webhook import Signer, _event, _post, _process
from tests.factories import make_lead


@pytest.fixture
def signer(settings):  # type: ignore[no-untyped-def]
    s = Signer()
    settings(sendgrid_webhook_public_key=s.public)
    return s


def _suppressed(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return {
        row[0]: row[1] for row in session.execute(select(Suppression.email, Suppression.reason))
    }


@pytest.mark.parametrize(
    "reason",
    [
        "Invalid SMTPAPI header",
        "Spam Content (if Spam Checker app is enabled)",
        "Recipient List over Package Quota",
    ],
)
def test_a_drop_that_is_the_senders_fault_suppresses_no_one(
    client, session, signer, reason
) -> None:
    response = _post(client, signer, [_event("dropped", "pat@example.com", reason=reason)])
    assert response.status_code == 200
    _process()
    assert _suppressed(session) == {}


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Bounced Address", "bounce"),
        ("Unsubscribed Address", "unsubscribe"),
        ("Spam Reporting Address", "complaint"),
        ("Invalid", "invalid"),
    ],
)
def test_a_drop_about_the_recipient_suppresses_them(client, session, signer, reason, kind) -> None:
    _post(client, signer, [_event("dropped", "pat@example.com", reason=reason)])
    _process()
    assert _suppressed(session) == {"pat@example.com": kind}


def test_machine_opens_and_blocks_are_not_opens_or_bounces_in_results(
    client, session, signer
) -> None:
    people = [
        make_lead(session, email_address=f"p{i}@example.com", timezone=YORK) for i in range(3)
    ]
    session.commit()
    broadcast = make_broadcast(session)
    tick(NOW)
    sent = {m.lead_id: m.id for m in rows(session, broadcast)}
    first, second, third = people
    batch = [
        # Apple Mail Privacy Protection fetched the email: no person opened it.
        _event("open", first.email, sent[first.id], sg_machine_open=True, useragent="Mozilla/5.0"),
        _event(
            "open", second.email, sent[second.id], sg_machine_open=False, useragent="Mozilla/5.0"
        ),
        # The receiving server refused the sending IP: the address is fine.
        _event(
            "bounce",
            third.email,
            sent[third.id],
            type="blocked",
            bounce_classification="Reputation",
            reason="550 5.7.1 blocked by reputation",
            status="5.7.1",
        ),
    ]
    assert _post(client, signer, batch).status_code == 200
    _process()
    result = broadcast_results(session, broadcast, booked_within_days=7)
    assert result.after["opened"] == 1
    assert result.after["bounced"] == 0
    assert _suppressed(session) == {}
    stored = sorted(e for (e,) in session.execute(select(DeliveryEvent.event)))
    assert stored == ["blocked", "machine_open", "open"]


def test_group_resubscribe_lifts_the_group_unsubscribe(client, session, signer) -> None:
    make_lead(session, email_address="pat@example.com")
    make_lead(session, email_address="gone@example.com")
    session.commit()
    earlier = int(datetime.now(UTC).timestamp()) - 60
    _post(
        client,
        signer,
        [
            _event("group_unsubscribe", "pat@example.com", asm_group_id=42, timestamp=earlier),
            _event("bounce", "gone@example.com", type="bounce", timestamp=earlier),
        ],
    )
    _process()
    assert _suppressed(session) == {"pat@example.com": "unsubscribe", "gone@example.com": "bounce"}
    _post(
        client,
        signer,
        [
            _event("group_resubscribe", "pat@example.com", asm_group_id=42),
            _event("group_resubscribe", "gone@example.com", asm_group_id=42),
        ],
    )
    _process()
    # What the group unsubscribe set is lifted; a bounce is not the group's to lift.
    assert _suppressed(session) == {"gone@example.com": "bounce"}
    lead = session.scalar(select(Lead).where(Lead.email == "pat@example.com"))
    assert lead is not None
    assert lead.status == LeadStatus.ACTIVE
