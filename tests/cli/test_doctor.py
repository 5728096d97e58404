"""`nurture doctor` judges what really runs: studio overrides, unsigned webhooks, file modes."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nurture.cli import main
from nurture.clinic.models import ClinicSetting
from nurture.core import clock
from nurture.core.config import Settings
from nurture.delivery.service import beat_heartbeat
from tests.processes import free_port

LIVE = {
    "env": "production",
    "secret_key": "s" * 40,
    "base_url": "https://nurture.clinic.org",
    "marketing_from_email": "news@clinic.org",
    "transactional_from_email": "visits@clinic.org",
    "sendgrid_api_key": "SG.live",
    "sendgrid_webhook_public_key": "MFkw",
}


def _doctor() -> Result:
    return CliRunner().invoke(main, ["doctor"])


def test_clinic_details_set_in_the_studio_count_and_are_said_to_come_from_it(
    settings: Any, session: Any
) -> None:
    # The NURTURE_* clinic details are the example's; an admin has set real ones in the studio.
    settings(**LIVE)
    for key, value in {
        "clinic_name": "Riverside Spine",
        "clinic_address": "1 River Road, Riverside",
        "booking_url": "https://book.clinic.org/assessment",
    }.items():
        session.add(ClinicSetting(key=key, value=value))
    session.commit()
    output = _doctor().output
    assert "[ok  ] clinic name is Riverside Spine (set in the studio)" in output
    assert "[ok  ] postal address is 1 River Road, Riverside (set in the studio)" in output
    assert "[ok  ] booking link is https://book.clinic.org/assessment (set in the studio)" in output
    assert "set NURTURE_CLINIC_NAME" not in output
    assert "clinic_address, booking_url, clinic_name" not in output  # named in form order
    assert "set in the studio win over NURTURE_*: clinic_name, clinic_address, booking_url" in (
        output
    )


def test_the_example_clinic_still_fails_without_studio_overrides(settings: Any) -> None:
    settings(**LIVE)
    output = _doctor().output
    assert "[FAIL] set NURTURE_CLINIC_NAME" in output
    assert "(set in the studio)" not in output


def test_unsigned_webhooks_allowed_in_production_fail(settings: Any) -> None:
    settings(**{**LIVE, "sendgrid_webhook_public_key": "", "sendgrid_webhook_allow_unsigned": "1"})
    result = _doctor()
    assert result.exit_code == 1
    assert "[FAIL] NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED is on" in result.output
    assert "anyone could post an unsubscribe or spam report" in result.output

    settings(sendgrid_webhook_public_key="MFkw")
    output = _doctor().output
    assert "[ok  ] Event Webhook signatures are verified" in output
    assert "[note] NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED has no effect" in output


def test_a_data_directory_other_users_can_read_fails(settings: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)
    settings(**LIVE, data_dir=str(data))
    assert f"[FAIL] {data.resolve()} can be read by other users" in _doctor().output
    os.chmod(data, 0o700)
    assert f"{data.resolve()} can be read by other users" not in _doctor().output


# An SMTP deployment: the clinic's own details, no SendGrid anywhere.
SMTP_LIVE = {
    **{k: v for k, v in LIVE.items() if not k.startswith("sendgrid")},
    "email_backend": "smtp",
    "clinic_name": "Riverside Spine",
    "clinic_address": "1 River Road, Riverside",
    "clinic_phone": "+1 212 555 0199",
    "booking_url": "https://book.clinic.org/assessment",
}


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@contextmanager
def _smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    port = free_port()
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port, tls_context=tls)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """A certificate for `host` and its key, as a mail provider's server would present."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_an_smtp_deployment_is_judged_by_its_smtp_server_not_sendgrid(settings: Any) -> None:
    with _smtp_server() as port:
        settings(**SMTP_LIVE, smtp_host="127.0.0.1", smtp_port=str(port))
        output = _doctor().output
    assert f"[ok  ] email goes through the SMTP server 127.0.0.1:{port}, which answers" in output
    assert f"[note] SMTP to 127.0.0.1:{port} without STARTTLS (this machine)" in output
    failures = [line for line in output.splitlines() if line.startswith("[FAIL]")]
    assert not [line for line in failures if "SENDGRID" in line or "SendGrid" in line], failures
    assert "include:sendgrid.net" not in output  # DNS advice for the provider in use

    settings(smtp_port=str(free_port()))  # nothing listens there
    output = _doctor().output
    assert "[FAIL] the SMTP server 127.0.0.1:" in output
    assert "does not answer" in output


def test_starttls_is_checked_with_the_servers_certificate(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path, "localhost")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with _smtp_server(tls) as port:
        where = f"localhost:{port}"
        settings(**SMTP_LIVE, smtp_host="localhost", smtp_port=str(port))
        output = _doctor().output
        assert f"[FAIL] {where} offers STARTTLS but NURTURE_SMTP_STARTTLS is off" in output

        settings(smtp_starttls="true")
        output = _doctor().output  # a certificate nobody vouches for
        assert f"[FAIL] STARTTLS to {where} failed:" in output
        assert "CERTIFICATE_VERIFY_FAILED" in output

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the machine trusts its issuer
        output = _doctor().output
        assert f"[ok  ] STARTTLS to {where}, certificate valid for localhost" in output
        assert f"{where} failed" not in output

    with _smtp_server() as port:
        settings(smtp_port=str(port))
        output = _doctor().output
        assert f"[FAIL] NURTURE_SMTP_STARTTLS is on but localhost:{port} offers no STARTTLS" in (
            output
        )


def test_the_broker_and_beats_heartbeat_are_checked(settings: Any, session: Any) -> None:
    run_broker = os.environ.get("NURTURE_BROKER_URL", "")
    settings(**{**SMTP_LIVE, "email_backend": "outbox", "broker_url": "redis://127.0.0.1:1/0"})
    output = _doctor().output
    assert "[FAIL] the broker at redis://127.0.0.1:1/0 does not answer" in output
    assert "[FAIL] beat's tick has never run" in output
    assert "[FAIL] email backend is the outbox" in output

    now = datetime.now(UTC)
    beat_heartbeat(session, name="tick", at=now - timedelta(seconds=20))
    session.commit()
    with clock.frozen_at(now):
        assert "[ok  ] beat ticks: the last tick ran 20 s ago" in _doctor().output
    beat_heartbeat(session, name="tick", at=now - timedelta(hours=1))
    session.commit()
    with clock.frozen_at(now):
        assert "[FAIL] beat's tick last ran 3600 s ago" in _doctor().output

    if run_broker.startswith("redis"):  # the PostgreSQL + Redis run has a Redis that answers
        settings(broker_url=run_broker)
        assert "[ok  ] broker is Redis at redis://127.0.0.1:6379/" in _doctor().output


def test_the_example_clinic_phone_fails(settings: Any) -> None:
    settings(**{**SMTP_LIVE, "clinic_phone": Settings.model_fields["clinic_phone"].default})
    assert "[FAIL] set NURTURE_CLINIC_PHONE" in _doctor().output
    settings(clinic_phone="+1 212 555 0199")
    assert "[ok  ] clinic phone is +1 212 555 0199" in _doctor().output


def test_doctor_checks_the_twilio_settings_and_reminds_about_a2p_10dlc(settings: Any) -> None:
    settings(**LIVE)
    output = _doctor().output
    assert "[note] no texts are sent: to text patients, set NURTURE_TWILIO_ACCOUNT_SID" in output
    settings(
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t" * 32,
        twilio_from="555-0100",
    )
    output = _doctor().output
    assert "[ok  ] Twilio account SID looks right" in output
    assert "[FAIL] NURTURE_TWILIO_FROM must be a number in E.164" in output
    assert "[note] A2P 10DLC" in output
    settings(twilio_from="MG" + "2" * 32)
    assert "[ok  ] texts are sent from MG" in _doctor().output
    settings(reminder_channels="email")
    assert "text messages are off" in _doctor().output


def test_the_readme_env_example_left_unchanged_fails(settings: Any) -> None:
    """The README's .env describes a made-up clinic: a copy nobody edited must not pass."""
    from tests.test_compose import _readme_env

    example = {
        name.removeprefix("NURTURE_").lower(): value
        for name, value in _readme_env().items()
        if name.startswith("NURTURE_") and value
    }
    settings(**{**example, "env": "production", "secret_key": "s" * 40, "sendgrid_api_key": "SG"})
    output = _doctor().output
    for line in (
        "[FAIL] set NURTURE_CLINIC_NAME",
        "[FAIL] set NURTURE_CLINIC_ADDRESS",
        "[FAIL] set NURTURE_CLINIC_PHONE",
        "[FAIL] set NURTURE_BOOKING_URL",
        "[FAIL] marketing sender is the example news@your-clinic.com",
        "[FAIL] transactional sender is the example appointments@your-clinic.com",
        "[FAIL] NURTURE_BASE_URL must be https:// at the clinic's own address",
    ):
        assert line in output, line
    settings(**LIVE, **{k: v for k, v in SMTP_LIVE.items() if k.startswith(("clinic", "booking"))})
    output = _doctor().output
    for name in ("clinic name", "postal address", "clinic phone", "booking link", "links use"):
        assert f"[ok  ] {name}" in output, name
    assert "sender is the example" not in output
