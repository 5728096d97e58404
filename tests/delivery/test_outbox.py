"""Outbox rows: planned once, claimed once, reclaimed after a crash, retried as they should."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.core import clock
from nurture.core.db import session_scope
from nurture.delivery import outbox, service
from nurture.delivery.channels.outbox import OutboxBackend
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import Message, MessageStatus, Stream, Suppression
from nurture.leads.models import LeadStatus
from tests.factories import make_lead, outbox_messages
from tests.sendgrid_server import Scripted

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _confirmations(session, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for i in range(count):
        lead = make_lead(session, email_address=f"p{i}@example.com", status=LeadStatus.PENDING)
        msg = outbox.plan(
            session,
            key=f"confirm:{lead.id}",
            stream=Stream.TRANSACTIONAL,
            template="confirm",
            due_at=NOW - timedelta(minutes=1),
            lead_id=lead.id,
        )
        ids.append(msg.id)
    session.commit()
    return ids


def test_planning_the_same_key_twice_keeps_one_row(session) -> None:
    lead = make_lead(session)
    a = outbox.plan(
        session, key="k1", stream="transactional", due_at=NOW, lead_id=lead.id, template="confirm"
    )
    b = outbox.plan(
        session, key="k1", stream="transactional", due_at=NOW, lead_id=lead.id, template="confirm"
    )
    session.commit()
    assert a.id == b.id
    assert len(session.scalars(select(Message)).all()) == 1


def test_plan_many_counts_only_the_rows_it_added(session) -> None:
    lead = make_lead(session)

    def rows(*keys: str) -> list[dict[str, object]]:
        return [
            {
                "key": k,
                "stream": "transactional",
                "due_at": NOW,
                "lead_id": lead.id,
                "template": "confirm",
            }
            for k in keys
        ]

    assert outbox.plan_many(session, rows("a", "b")) == 2
    assert outbox.plan_many(session, rows("a", "b", "c")) == 1  # on both databases, never -1
    session.commit()
    assert len(session.scalars(select(Message)).all()) == 3


def test_claims_only_due_rows_and_never_twice(session) -> None:
    ids = _confirmations(session, 5)
    later = outbox.plan(
        session,
        key="later",
        stream="transactional",
        template="confirm",
        due_at=NOW + timedelta(hours=1),
        lead_id=None,
        to_email="x@example.com",
    )
    session.commit()
    with session_scope() as s:
        first = outbox.claim_due(s, now=NOW, limit=3, lease=LEASE)
    with session_scope() as s:
        second = outbox.claim_due(s, now=NOW, limit=10, lease=LEASE)
    with session_scope() as s:
        third = outbox.claim_due(s, now=NOW, limit=10, lease=LEASE)
    assert len(first) == 3
    assert len(second) == 2
    assert third == []
    assert sorted(first + second) == ids
    assert later.id not in first + second


def test_concurrent_claimers_split_the_work_without_overlap(session) -> None:
    ids = _confirmations(session, 60)
    results: list[list[int]] = []
    lock = threading.Lock()

    def claimer() -> None:
        got: list[int] = []
        while True:
            with session_scope() as s:
                batch = outbox.claim_due(s, now=NOW, limit=7, lease=LEASE)
            if not batch:
                break
            got.extend(batch)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == ids  # every row once, none twice


def test_expired_claims_are_released_or_marked_unknown(session) -> None:
    ids = _confirmations(session, 2)
    with session_scope() as s:
        outbox.claim_due(s, now=NOW, limit=10, lease=LEASE)
    with session_scope() as s:
        # The second row's worker had started the provider call before it died.
        s.get(Message, ids[1]).attempt_started_at = NOW  # type: ignore[union-attr]
    with session_scope() as s:
        assert outbox.reclaim_expired(s, now=NOW + timedelta(minutes=1)) == (0, 0)
    with session_scope() as s:
        assert outbox.reclaim_expired(s, now=NOW + timedelta(minutes=6)) == (1, 1)
    session.expire_all()
    assert session.get(Message, ids[0]).status == MessageStatus.PENDING  # type: ignore[union-attr]
    assert session.get(Message, ids[1]).status == MessageStatus.UNKNOWN  # type: ignore[union-attr]


def test_deliver_sends_once_even_when_dispatched_twice(session, settings) -> None:
    [mid] = _confirmations(session, 1)
    backend = OutboxBackend(settings().resolved_outbox_dir)
    with clock.frozen_at(NOW):
        result = service.tick(dispatch=lambda ids: None)
        assert result.claimed == [mid]
        first = service.deliver(mid, backend=backend)
        second = service.deliver(mid, backend=backend)  # a duplicate task after a redelivery
    assert (first.status, second.status) == ("sent", "not-claimed")
    assert len(outbox_messages(backend.directory)) == 1


def test_transient_failure_retries_later_then_sends(session, sendgrid) -> None:
    [mid] = _confirmations(session, 1)
    sendgrid.state.script.append(Scripted(status=503))
    backend = get_backend()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    session.expire_all()
    row = session.get(Message, mid)
    assert row is not None
    assert row.status == MessageStatus.PENDING
    assert row.attempts == 1
    assert "503" in (row.last_error or "")
    assert NOW + timedelta(seconds=30) <= row.due_at <= NOW + timedelta(seconds=60)
    with clock.frozen_at(NOW + timedelta(minutes=1)):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    session.expire_all()
    row = session.get(Message, mid)
    assert row is not None
    assert row.status == MessageStatus.SENT
    assert row.attempts == 2
    assert len(sendgrid.state.accepted) == 1


def test_rejected_email_fails_at_once_with_providers_message(session, sendgrid, settings) -> None:
    settings(transactional_from_email="broken-sender")
    [mid] = _confirmations(session, 1)
    backend = get_backend()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    session.expire_all()
    row = session.get(Message, mid)
    assert row is not None
    assert row.status == MessageStatus.FAILED
    assert "from.email" in (row.last_error or "")


def test_rate_limit_waits_until_reset(session, sendgrid) -> None:
    [mid] = _confirmations(session, 1)
    reset = int(NOW.timestamp()) + 90
    sendgrid.state.script.append(Scripted(status=429, headers={"X-RateLimit-Reset": str(reset)}))
    backend = get_backend()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    session.expire_all()
    row = session.get(Message, mid)
    assert row is not None
    assert row.status == MessageStatus.PENDING
    assert row.due_at == datetime.fromtimestamp(reset, UTC)


def test_suppressed_address_is_not_sent(session, settings) -> None:
    [mid] = _confirmations(session, 1)
    session.add(Suppression(email="p0@example.com", reason="bounce", source="test"))
    session.commit()
    backend = OutboxBackend(settings().resolved_outbox_dir)
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    session.expire_all()
    assert session.get(Message, mid).status == MessageStatus.SUPPRESSED  # type: ignore[union-attr]
    assert outbox_messages(backend.directory) == []


def test_outbox_files_are_standard_and_readable_on_the_outbox_page(session, client) -> None:
    [mid] = _confirmations(session, 1)
    backend = get_backend()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: [service.deliver(i, backend=backend) for i in ids])
    [eml] = outbox_messages(backend.directory)  # type: ignore[attr-defined]
    assert eml["From"].addresses[0].addr_spec == "appointments@clinic.example"
    assert eml.get_body(("plain",)) is not None
    assert eml.get_body(("html",)) is not None
    listing = client.get("/outbox")
    assert listing.status_code == 200
    assert "Please confirm your email address" in listing.text
    name = next(p.name for p in backend.directory.glob("*.eml"))  # type: ignore[attr-defined]
    page = client.get(f"/outbox/{name}")
    assert page.status_code == 200
    assert "srcdoc=" in page.text
    assert client.get("/outbox/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get(f"/outbox/{name}/raw").headers["content-type"] == "message/rfc822"


def test_a_row_that_cannot_render_fails_alone(session, settings) -> None:
    from nurture.enrollments import service as enrollments
    from nurture.sequences import service as sequences
    from nurture.sequences.files import SequenceSpec

    broken = SequenceSpec.model_validate(
        {
            "slug": "broken",
            "name": "Broken",
            "audience": "acute",
            "steps": [{"key": "one", "subject": "Hi", "html": "<p>{{ no_such_variable }}</p>"}],
        }
    )
    sequences.publish_spec(session, spec=broken)
    lead = make_lead(session, email_address="broken@example.com", numbness_type="acute")
    enrollments.enroll(session, lead=lead, now=NOW - timedelta(minutes=1))
    ids = _confirmations(session, 2)
    backend = OutboxBackend(settings().resolved_outbox_dir)
    with clock.frozen_at(NOW):
        outcomes = []
        service.tick(
            dispatch=lambda batch: outcomes.extend(service.deliver_batch(batch, backend=backend))
        )
    by_status = sorted(o.status for o in outcomes)
    assert by_status == ["failed", "sent", "sent"]
    session.expire_all()
    failed = session.scalars(select(Message).where(Message.status == "failed")).one()
    assert "could not render" in (failed.last_error or "")
    assert "no_such_variable" in (failed.last_error or "")
    assert failed.attempts == 1
    assert (
        sorted(m.id for m in session.scalars(select(Message).where(Message.status == "sent")))
        == ids
    )


def test_ticks_claim_no_more_than_can_be_in_flight(session, settings) -> None:
    settings(max_in_flight="3")
    _confirmations(session, 5)
    with clock.frozen_at(NOW):
        first = service.tick(dispatch=lambda ids: None)
        second = service.tick(dispatch=lambda ids: None)
    assert len(first.claimed) == 3
    assert second.claimed == []
    backend = OutboxBackend(settings().resolved_outbox_dir)
    with clock.frozen_at(NOW):
        service.deliver_batch(first.claimed, backend=backend)
        third = service.tick(dispatch=lambda ids: None)
    assert len(third.claimed) == 2


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # A branch on the first name that the studio's sample leads did not take.
        (
            "<p>Hi</p>\n{% if first_name == 'Zed' %}{% for i in range(8) %}{{ 'x' * 250000 }}"
            "{% endfor %}{% endif %}",
            "(template line 2): TemplateLimitError: the template writes more than 256 KiB",
        ),
        (
            "{% if first_name == 'Zed' %}{{ 7**(10**7) }}{% endif %}",
            "(template line 1): TemplateLimitError: the template computes a number too large",
        ),
    ],
)
def test_a_template_past_the_limits_fails_its_row_alone(
    session, settings, html: str, expected: str
) -> None:
    from nurture.enrollments import service as enrollments
    from nurture.sequences import service as sequences
    from nurture.sequences.files import SequenceSpec

    hostile = SequenceSpec.model_validate(
        {
            "slug": "hostile",
            "name": "Hostile",
            "audience": "acute",
            "steps": [{"key": "one", "subject": "Hi", "html": html}],
        }
    )
    sequences.publish_spec(session, spec=hostile)
    for name in ("Zed", "Amy"):
        lead = make_lead(
            session, email_address=f"{name}@example.com", numbness_type="acute", first_name=name
        )
        enrollments.enroll(session, lead=lead, now=NOW - timedelta(minutes=1))
    _confirmations(session, 1)
    backend = OutboxBackend(settings().resolved_outbox_dir)
    with clock.frozen_at(NOW):
        outcomes = []
        service.tick(
            dispatch=lambda batch: outcomes.extend(service.deliver_batch(batch, backend=backend))
        )
    assert sorted(o.status for o in outcomes) == ["failed", "sent", "sent"]
    session.expire_all()
    failed = session.scalars(select(Message).where(Message.status == "failed")).one()
    assert failed.lead.first_name == "Zed"
    assert expected in (failed.last_error or "")


_REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+">')


def test_outbox_page_looks_again_by_itself_while_empty_or_sending(session, client) -> None:
    backend = get_backend()
    empty = client.get("/outbox").text
    assert "No emails yet" in empty
    assert _REFRESH.search(empty)  # the first email will show up without a reload
    _confirmations(session, 2)
    claimed: list[int] = []
    with clock.frozen_at(NOW):
        service.tick(dispatch=claimed.extend)  # both claimed: the worker sends one
        service.deliver(claimed[0], backend=backend)
    assert len(outbox_messages(backend.directory)) == 1  # type: ignore[attr-defined]
    sending = client.get("/outbox").text  # one written, the other still on its way
    assert "Please confirm your email address" in sending
    assert _REFRESH.search(sending)
    with clock.frozen_at(NOW):
        service.deliver(claimed[1], backend=backend)
    settled = client.get("/outbox").text
    assert len(outbox_messages(backend.directory)) == 2  # type: ignore[attr-defined]
    assert not _REFRESH.search(settled)  # nothing more to wait for: the page stays put
