"""SendGrid's Event Webhook: signatures, once-only storage, suppression and reconciliation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from nurture.core import clock
from nurture.delivery import events, outbox, service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import DeliveryEvent, Message, MessageStatus, Stream, Suppression
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from tests.factories import make_lead

# SendGrid's published test vector for the Signed Event Webhook (from its own library's tests).
VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
VECTOR_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15Tl"
    "uLtEZtM="
)
VECTOR_TIMESTAMP = "1600112502"
VECTOR_PAYLOAD = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": (
                    "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0"
                ),
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
)
VECTOR_TIME = datetime.fromtimestamp(int(VECTOR_TIMESTAMP) + 30, UTC)


class Signer:
    """Plays SendGrid: signs batches with a key pair of its own."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: str, at: datetime) -> dict[str, str]:
        stamp = str(int(at.timestamp()))
        signature = self.key.sign((stamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        return {
            events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            events.TIMESTAMP_HEADER: stamp,
            "Content-Type": "application/json",
        }


@pytest.fixture
def signer(settings):  # type: ignore[no-untyped-def]
    s = Signer()
    settings(sendgrid_webhook_public_key=s.public)
    return s


def _event(kind: str, email: str, message_id: int | None = None, **extra: object) -> dict:  # type: ignore[type-arg]
    body: dict[str, object] = {
        "email": email,
        "event": kind,
        "sg_event_id": f"evt-{kind}-{email}-{message_id}-{len(extra)}",
        "timestamp": int(datetime.now(UTC).timestamp()),
        **extra,
    }
    if message_id is not None:
        body[events.MESSAGE_ARG] = str(message_id)
    return body


def _post(client, signer, batch: list[dict], at: datetime | None = None):  # type: ignore[no-untyped-def, type-arg]
    body = json.dumps(batch)
    return client.post(
        "/webhooks/sendgrid", content=body, headers=signer.headers(body, at or datetime.now(UTC))
    )


def _process() -> None:
    with clock.frozen_at(datetime.now(UTC)):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))


def test_published_test_vector_verifies() -> None:
    events.verify(
        public_key=VECTOR_KEY,
        body=VECTOR_PAYLOAD,
        signature=VECTOR_SIGNATURE,
        timestamp=VECTOR_TIMESTAMP,
        now=VECTOR_TIME,
        tolerance_seconds=600,
    )
    with pytest.raises(events.SignatureError, match="does not match"):
        events.verify(
            public_key=VECTOR_KEY,
            body=VECTOR_PAYLOAD.replace("dropped", "dropper"),
            signature=VECTOR_SIGNATURE,
            timestamp=VECTOR_TIMESTAMP,
            now=VECTOR_TIME,
            tolerance_seconds=600,
        )


def test_vector_through_the_endpoint_then_stale_and_tampered(client, session, settings) -> None:
    settings(sendgrid_webhook_public_key=VECTOR_KEY)
    headers = {
        events.SIGNATURE_HEADER: VECTOR_SIGNATURE,
        events.TIMESTAMP_HEADER: VECTOR_TIMESTAMP,
        "Content-Type": "application/json",
    }
    with clock.frozen_at(VECTOR_TIME):
        ok = client.post("/webhooks/sendgrid", content=VECTOR_PAYLOAD, headers=headers)
        replay = client.post("/webhooks/sendgrid", content=VECTOR_PAYLOAD, headers=headers)
        tampered = client.post(
            "/webhooks/sendgrid",
            content=VECTOR_PAYLOAD.replace("Bounced", "Bouncer"),
            headers=headers,
        )
        unsigned = client.post(
            "/webhooks/sendgrid",
            content=VECTOR_PAYLOAD,
            headers={"Content-Type": "application/json"},
        )
    assert ok.status_code == 200
    assert ok.json() == {"stored": 1, "duplicates": 0, "skipped": 0}
    assert replay.status_code == 200
    assert replay.json() == {"stored": 0, "duplicates": 1, "skipped": 0}
    assert tampered.status_code == 401
    assert "does not match" in tampered.json()["message"]
    assert unsigned.status_code == 401
    assert "missing" in unsigned.json()["message"]
    stale = client.post("/webhooks/sendgrid", content=VECTOR_PAYLOAD, headers=headers)
    assert stale.status_code == 401
    assert "too old" in stale.json()["message"]
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 1


def test_every_event_type_is_stored_once_and_suppresses_as_it_should(
    client, session, signer
) -> None:
    kinds = {
        "processed": "p@example.com",
        "deferred": "d@example.com",
        "delivered": "dl@example.com",
        "open": "o@example.com",
        "click": "c@example.com",
        "bounce": "b@example.com",
        "spamreport": "s@example.com",
        "unsubscribe": "u@example.com",
        "group_unsubscribe": "g@example.com",
    }
    batch = [_event(k, e, future_field={"nested": True}) for k, e in kinds.items()]
    batch.append(_event("dropped", "dr@example.com", reason="Bounced Address"))
    batch.append(_event("dropped", "spam@example.com", reason="Spam Content"))
    batch.append(_event("bounce", "blocked@example.com", type="blocked"))
    batch.append(batch[0])  # SendGrid retries and duplicates
    response = _post(client, signer, batch)
    assert response.status_code == 200
    assert response.json() == {"stored": len(batch) - 1, "duplicates": 1, "skipped": 0}
    _process()
    suppressed = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
    assert suppressed == {
        "b@example.com": "bounce",
        "s@example.com": "complaint",
        "u@example.com": "unsubscribe",
        "g@example.com": "unsubscribe",
        "dr@example.com": "bounce",
    }
    assert session.scalar(select(func.count()).where(DeliveryEvent.processed_at.is_(None))) == 0


def test_bodies_that_are_not_arrays_of_objects_get_400_and_store_nothing(
    client, session, signer
) -> None:
    good = _event("delivered", "a@example.com")
    for body in ('{"event": "open"}', "not json", json.dumps([good, "open"]), "[1, 2]", "null"):
        response = client.post(
            "/webhooks/sendgrid", content=body, headers=signer.headers(body, datetime.now(UTC))
        )
        assert response.status_code == 400, body
        assert response.json()["error"] in ("invalid_batch", "malformed_body")
        assert response.json()["message"]
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 0


def test_one_odd_event_does_not_sink_the_batch(client, session, signer) -> None:
    """Shapes SendGrid really sends next to broken ones: each is stored or skipped alone."""
    now = int(datetime.now(UTC).timestamp())
    batch = [
        # An account event names no recipient.
        {
            "event": "account_status_change",
            "sg_event_id": "YWNjb3VudC1zdGF0dXMtY2hhbmdl",
            "timestamp": now,
            "type": "compliance_suspend",
        },
        _event("bounce", "frac@example.com", timestamp=now + 0.271828),
        _event("group_resubscribe", "back@example.com", asm_group_id=12),
        _event("a_type_sendgrid_adds_next_year", "new@example.com"),
        {k: v for k, v in _event("open", "no-id@example.com").items() if k != "sg_event_id"},
        _event("click", "bad-time@example.com", timestamp="yesterday"),
        _event("delivered", "negative@example.com", timestamp=-5),
        _event("spamreport", "spam@example.com"),
    ]
    response = _post(client, signer, batch)
    assert response.status_code == 200
    body = response.json()
    assert (body["stored"], body["duplicates"], body["skipped"]) == (5, 0, 3)
    assert [p["index"] for p in body["problems"]] == [4, 5, 6]
    assert "sg_event_id" in body["problems"][0]["message"]
    assert "timestamp" in body["problems"][1]["message"]
    stored = {e.event: e for e in session.scalars(select(DeliveryEvent))}
    assert set(stored) == {
        "account_status_change",
        "bounce",
        "group_resubscribe",
        "a_type_sendgrid_adds_next_year",
        "spamreport",
    }
    bounce = stored["bounce"].occurred_at
    assert bounce.replace(tzinfo=UTC) == datetime.fromtimestamp(now + 0.271828, UTC)
    assert stored["account_status_change"].payload["type"] == "compliance_suspend"
    _process()
    suppressed = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
    assert suppressed == {"frac@example.com": "bounce", "spam@example.com": "complaint"}
    assert session.scalar(select(func.count()).where(DeliveryEvent.processed_at.is_(None))) == 0


def _big_batch(n: int, tag: str) -> list[dict]:  # type: ignore[type-arg]
    """A batch as SendGrid posts it: processed/delivered/open/click/bounce with their fields."""
    now = int(datetime.now(UTC).timestamp())
    kinds = ["processed", "delivered", "open", "click", "bounce"]
    batch = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        event: dict[str, object] = {
            "email": f"{tag}-{i}@example.com",
            "timestamp": now - i % 300,
            "smtp-id": f"<{tag}{i}.dfd.64b469@ismtpd-555>",
            "event": kind,
            "category": ["drip", "education"],
            "sg_event_id": f"{tag}-{i:06d}-ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
            "sg_message_id": f"{tag}{i}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
            "nurture_message_id": str(100000 + i),
        }
        if kind == "delivered":
            event["response"] = "250 2.0.0 OK  1600112492 x12si345678qkm.99 - gsmtp"
        elif kind in ("open", "click"):
            event["useragent"] = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
            event["ip"] = "192.0.2.10"
            if kind == "click":
                event["url"] = "https://clinic.example/articles/leg-numbness?utm_source=email"
        elif kind == "bounce":
            event.update(
                reason="550 5.1.1 The email account that you tried to reach does not exist.",
                status="5.1.1",
                type="bounce",
                bounce_classification="Invalid Address",
            )
        batch.append(event)
    return batch


def test_a_batch_over_a_megabyte_is_accepted_and_all_stored(client, session, signer) -> None:
    batch = _big_batch(2400, "big")
    body = json.dumps(batch)
    assert len(body) > 1024 * 1024
    response = client.post(
        "/webhooks/sendgrid", content=body, headers=signer.headers(body, datetime.now(UTC))
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"stored": 2400, "duplicates": 0, "skipped": 0}
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 2400
    again = client.post(
        "/webhooks/sendgrid", content=body, headers=signer.headers(body, datetime.now(UTC))
    )
    assert again.json() == {"stored": 0, "duplicates": 2400, "skipped": 0}


def test_the_webhook_limit_is_a_setting(client, signer, settings) -> None:
    settings(webhook_max_request_bytes=str(64 * 1024))
    from fastapi.testclient import TestClient

    from nurture.web.app import create_app

    body = json.dumps(_big_batch(300, "limit"))
    with TestClient(create_app(), base_url="https://nurture.test") as small:
        refused = small.post(
            "/webhooks/sendgrid", content=body, headers=signer.headers(body, datetime.now(UTC))
        )
    assert refused.status_code == 413
    # Other routes keep the small default.
    assert client.post("/api/subscribe", content="x" * 20_000).status_code == 413


def test_other_requests_answer_while_a_large_batch_is_stored(
    client, session, signer, monkeypatch
) -> None:
    """The batch is verified and written in a worker thread, never on the event loop."""
    import threading

    from nurture.delivery import webhooks

    body = json.dumps(_big_batch(6000, "loop"))
    headers = signer.headers(body, datetime.now(UTC))
    storing, release = threading.Event(), threading.Event()
    receive = webhooks._receive

    def held(*args: Any) -> Any:
        # The batch is held mid-way until the test has been answered elsewhere: on the event
        # loop this would hold every other request too.
        storing.set()
        assert release.wait(timeout=120), "the test never released the batch"
        return receive(*args)

    monkeypatch.setattr(webhooks, "_receive", held)
    outcome: dict[str, Any] = {}
    poster = threading.Thread(
        target=lambda: outcome.update(
            response=client.post("/webhooks/sendgrid", content=body, headers=headers)
        )
    )
    poster.start()
    health: list[int] = []
    try:
        assert storing.wait(timeout=120), "the batch never reached the store"
        checker = threading.Thread(
            target=lambda: health.append(client.get("/healthz").status_code), daemon=True
        )
        checker.start()
        # A generous guard against a hang, not a measure of speed.
        checker.join(timeout=120)
        answered_while_held = list(health)
    finally:
        release.set()
        poster.join()
    assert answered_while_held, "/healthz did not answer while the batch was being stored"
    assert answered_while_held[0] in (200, 503)
    response = outcome["response"]
    assert response.status_code == 200
    assert response.json()["stored"] == 6000


@pytest.mark.parametrize(
    ("env", "allow", "status"),
    [("production", None, 503), ("production", "true", 200), ("development", None, 200)],
)
def test_production_refuses_unsigned_events_unless_told_otherwise(
    client, session, settings, env, allow, status
) -> None:
    values = {"env": env}
    if allow is not None:
        values["sendgrid_webhook_allow_unsigned"] = allow
    settings(**values)
    batch = [_event("unsubscribe", "victim@example.com")]
    response = client.post(
        "/webhooks/sendgrid", json=batch, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    stored = session.scalar(select(func.count()).select_from(DeliveryEvent))
    if status == 503:
        assert "NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY" in response.json()["message"]
        assert "NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED" in response.json()["message"]
        assert stored == 0
    else:
        assert stored == 1


def test_production_with_a_key_still_verifies(client, session, settings, signer) -> None:
    settings(env="production", sendgrid_webhook_allow_unsigned="true")
    batch = [_event("unsubscribe", "victim@example.com")]
    unsigned = client.post(
        "/webhooks/sendgrid", json=batch, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert _post(client, signer, batch).status_code == 200


def test_custom_args_collision_does_not_touch_another_email(client, session, signer) -> None:
    lead = make_lead(session, email_address="real@example.com")
    msg = outbox.plan(
        session,
        key="x",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=datetime.now(UTC),
        lead_id=lead.id,
    )
    msg.status = MessageStatus.UNKNOWN
    session.commit()
    _post(client, signer, [_event("delivered", "someone-else@example.com", msg.id)])
    _process()
    session.expire_all()
    assert session.scalars(select(DeliveryEvent.message_id)).one() is None
    assert session.get(Message, msg.id).status == MessageStatus.UNKNOWN  # type: ignore[union-attr]


def test_bounce_stops_the_next_drip_email(client, session, signer, sequences_loaded) -> None:
    lead = make_lead(session, email_address="bouncy@example.com", numbness_type="acute")
    enrollments.enroll(session, lead=lead, now=datetime.now(UTC))
    session.commit()
    _process()
    sent = session.scalars(select(Message).where(Message.status == "sent")).one()
    _post(client, signer, [_event("bounce", "bouncy@example.com", sent.id)])
    _process()
    session.expire_all()
    assert session.scalars(select(Enrollment)).one().exit_reason == "bounce"
    statuses = sorted(session.scalars(select(Message.status)))
    assert statuses == [MessageStatus.CANCELLED, MessageStatus.SENT]
    assert session.scalars(select(Lead)).one().status == "active"  # a bounce is no opt-out


@pytest.mark.parametrize("order", [("processed", "delivered"), ("delivered", "processed")])
def test_unknown_email_is_settled_without_a_second_send(
    client, session, signer, sendgrid, order
) -> None:
    lead = make_lead(session, email_address="maybe@example.com", status="pending")
    msg = outbox.plan(
        session,
        key="u1",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=datetime.now(UTC),
        lead_id=lead.id,
    )
    msg.status, msg.unknown_since = MessageStatus.UNKNOWN, datetime.now(UTC)
    session.commit()
    _post(client, signer, [_event(k, "maybe@example.com", msg.id) for k in order])
    _process()
    session.expire_all()
    assert session.get(Message, msg.id).status == MessageStatus.SENT  # type: ignore[union-attr]
    assert sendgrid.state.accepted == []


def test_unanswered_unknown_is_sent_again_once(session, sendgrid, settings) -> None:
    settings(unknown_resend_after_seconds="60")
    lead = make_lead(session, email_address="lost@example.com", status="pending")
    msg = outbox.plan(
        session,
        key="u2",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=datetime.now(UTC),
        lead_id=lead.id,
    )
    msg.status = MessageStatus.UNKNOWN
    msg.unknown_since = datetime.now(UTC) - timedelta(minutes=5)
    session.commit()
    _process()
    assert len(sendgrid.state.accepted) == 1
    session.expire_all()
    again = session.get(Message, msg.id)
    assert again is not None
    assert again.status == MessageStatus.SENT
    assert again.resent_after_unknown
    # Even if it turns unknown again, it is not re-sent a second time.
    again.status, again.unknown_since = (
        MessageStatus.UNKNOWN,
        datetime.now(UTC) - timedelta(hours=1),
    )
    session.commit()
    _process()
    assert len(sendgrid.state.accepted) == 1


def test_stored_events_are_processed_in_short_transactions(client, session, signer) -> None:
    """A tick catching up on a big batch commits every 200 events, so the single SQLite writer
    is never held long enough for the next webhook batch to time out waiting for it."""
    from sqlalchemy import event as sa_event

    from nurture.core.db import session_factory

    batch = _big_batch(450, "chunks")
    assert _post(client, signer, batch).status_code == 200
    commits: list[int] = []
    worker = session_factory()()
    sa_event.listen(worker, "after_commit", lambda _s: commits.append(1))
    try:
        assert events.process_pending(worker, now=datetime.now(UTC)) == 450
    finally:
        worker.close()
    assert len(commits) == 3  # 200 + 200 + 50
    pending = select(func.count()).where(DeliveryEvent.processed_at.is_(None))
    assert session.scalar(pending) == 0
    assert session.scalar(select(func.count()).select_from(Suppression)) == 90  # the bounces
