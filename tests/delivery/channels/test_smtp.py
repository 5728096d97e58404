"""The smtp backend against a real SMTP server (aiosmtpd), as Mailpit would receive it."""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from nurture.delivery.channels.base import OutgoingEmail, PermanentError, TransientError
from nurture.delivery.channels.registry import get_backend
from tests.processes import free_port

EMAIL = OutgoingEmail(
    to_email="pat@example.com",
    from_email="appointments@clinic.example",
    from_name="Clinic",
    subject="Your visit",
    html="<p>See you soon</p>",
    text="See you soon\n",
)


class Inbox:
    """Collects what the SMTP server receives; refuses one address."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.peers: list[object] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        self.peers.append(session.peer)  # which connection carried it
        return "250 Message accepted"


@pytest.fixture
def smtp_server(settings):  # type: ignore[no-untyped-def]
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port))
    yield inbox
    controller.stop()


def test_smtp_delivers_a_multipart_message(smtp_server) -> None:
    message_id = get_backend().send(EMAIL)
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["pat@example.com"]
    parsed = message_from_bytes(envelope.original_content, policy=policy.default)
    assert parsed["Message-ID"] == message_id
    assert parsed["Subject"] == "Your visit"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>See you soon</p>"


def test_a_batch_shares_sessions_and_a_refusal_fails_only_its_email(smtp_server, settings) -> None:
    settings(send_concurrency="1")
    emails = [
        dataclasses.replace(EMAIL, to_email=f"{name}@example.com")
        for name in ("a", "b", "refused", "c", "d")
    ]
    outcomes = get_backend().send_batch(emails)
    assert [type(o).__name__ for o in outcomes] == [
        "Sent", "Sent", "PermanentError", "Sent", "Sent",
    ]  # fmt: skip
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [[a] for a in (
        "a@example.com", "b@example.com", "c@example.com", "d@example.com",
    )]  # fmt: skip
    # One session before the refusal, a fresh one after it (never one per email).
    peers = smtp_server.peers
    assert peers[0] == peers[1]
    assert peers[2] == peers[3]
    assert peers[1] != peers[2]


def test_refused_recipient_is_permanent(smtp_server) -> None:
    refused = dataclasses.replace(EMAIL, to_email="refused@example.com")
    with pytest.raises(PermanentError, match="refused"):
        get_backend().send(refused)


def test_unreachable_relay_is_transient(settings) -> None:
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(free_port()))
    with pytest.raises(TransientError, match="SMTP connection failed"):
        get_backend().send(EMAIL)


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a relay certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def build(subject: str, key, issuer: x509.Name | None, signer, ca: bool) -> x509.Certificate:  # type: ignore[no-untyped-def]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Test relay CA", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("relay", key, ca.subject, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "relay.pem").write_bytes(cert.public_bytes(pem))
    (folder / "relay.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "ca.pem", folder / "relay.pem", folder / "relay.key"


@pytest.fixture
def tls_relay(settings, tmp_path):  # type: ignore[no-untyped-def]
    """A relay that offers STARTTLS with a certificate from a CA the system does not know."""
    ca, cert, key = _certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port), smtp_starttls="true")
    yield inbox, ca
    controller.stop()


def test_starttls_refuses_a_relay_whose_certificate_it_cannot_verify(tls_relay) -> None:
    inbox, _ca = tls_relay
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        get_backend().send(EMAIL)
    assert inbox.envelopes == []


def test_starttls_delivers_to_a_relay_it_can_verify(tls_relay, monkeypatch) -> None:
    inbox, ca = tls_relay
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the CA a deployment would install
    get_backend().send(EMAIL)
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["pat@example.com"]
