"""SendGrid's Event Webhook: signatures, once-only storage, suppression and reconciliation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from nurture import clock
from nurture.delivery import events, outbox, service
from nurture.delivery.backends import get_backend
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
    assert ok.json() == {"stored": 1, "duplicates": 0}
    assert replay.status_code == 200
    assert replay.json() == {"stored": 0, "duplicates": 1}
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
    assert response.json() == {"stored": len(batch) - 1, "duplicates": 1}
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


def test_malformed_batches_store_nothing(client, session, signer) -> None:
    good = _event("delivered", "a@example.com")
    bad = {k: v for k, v in _event("open", "b@example.com").items() if k != "sg_event_id"}
    response = _post(client, signer, [good, bad])
    assert response.status_code == 400
    assert "1.sg_event_id" in response.json()["fields"]
    not_a_list = _post(client, signer, {"event": "open"})  # type: ignore[arg-type]
    assert not_a_list.status_code == 400
    body = "not json"
    broken = client.post(
        "/webhooks/sendgrid", content=body, headers=signer.headers(body, datetime.now(UTC))
    )
    assert broken.status_code == 400
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 0


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
