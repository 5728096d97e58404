"""`nurture doctor` judges what really runs: studio overrides, unsigned webhooks, file modes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from nurture.cli import main
from nurture.clinic.models import ClinicSetting

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


def test_doctor_checks_the_twilio_settings_and_reminds_about_a2p_10dlc(settings: Any) -> None:
    settings(**LIVE)
    output = _doctor().output
    assert "[FAIL] texts go to the local outbox, not to phones" in output
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
