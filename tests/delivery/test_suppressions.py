"""Suppression list: CSV import, SendGrid sync, staff adds; signup hygiene; doctor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.delivery.models import Suppression
from nurture.leads.models import Lead


def _suppressed(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return dict(session.execute(select(Suppression.email, Suppression.reason)).all())


def test_csv_import_is_all_or_nothing(tmp_path: Path, session) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("email,reason\nok@example.com,bounce\nnot-an-email,bounce\nx@example.com,meh\n")
    result = CliRunner().invoke(main, ["suppressions", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 3:" in result.output
    assert "line 4: reason must be one of" in result.output
    assert _suppressed(session) == {}
    good = tmp_path / "good.csv"
    good.write_text("email,reason\nOK@Example.com,bounce\nother@example.com,\n")
    result = CliRunner().invoke(main, ["suppressions", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 addresses suppressed" in result.output
    assert _suppressed(session) == {"ok@example.com": "bounce", "other@example.com": "staff"}
    again = CliRunner().invoke(main, ["suppressions", "import", str(good)])
    assert "0 addresses suppressed, 2 were already" in again.output


def test_sync_copies_sendgrids_lists_with_paging(session, sendgrid) -> None:
    created = int(datetime.now(UTC).timestamp())
    sendgrid.state.suppression_lists["bounces"] = [
        {"email": f"b{i}@example.com", "created": created, "reason": "550", "status": "5.1.1"}
        for i in range(600)
    ]
    sendgrid.state.suppression_lists["spam_reports"] = [
        {"email": "Spam@Example.com", "created": created, "ip": "10.0.0.1"}
    ]
    sendgrid.state.suppression_lists["unsubscribes"] = [
        {"email": "u@example.com", "created": created}
    ]
    result = CliRunner().invoke(main, ["suppressions", "sync"])
    assert result.exit_code == 0, result.output
    assert "bounces: 600 addresses" in result.output
    found = _suppressed(session)
    assert len(found) == 602
    assert found["spam@example.com"] == "complaint"
    assert found["u@example.com"] == "unsubscribe"


def test_sync_reports_a_refused_key(session, sendgrid, settings) -> None:
    settings(sendgrid_api_key="SG.wrong")
    result = CliRunner().invoke(main, ["suppressions", "sync"])
    assert result.exit_code == 1
    assert "refused the bounces list: 401" in result.output


def test_staff_add_normalises(session) -> None:
    result = CliRunner().invoke(main, ["suppressions", "add", " Pat@Example.COM "])
    assert result.exit_code == 0
    assert _suppressed(session) == {"pat@example.com": "staff"}
    bad = CliRunner().invoke(main, ["suppressions", "add", "pat@", "--reason", "staff"])
    assert bad.exit_code == 2


def test_role_and_disposable_addresses_can_be_refused(client, session, settings) -> None:
    signup = {"first_name": "A", "numbness_type": "acute", "consent": True}
    assert (
        client.post("/api/subscribe", json={**signup, "email": "info@clinic.org"}).status_code
        == 202
    )
    settings(refuse_role_addresses="true", refuse_disposable_addresses="true")
    role = client.post("/api/subscribe", json={**signup, "email": "admin@clinic.org"})
    assert role.status_code == 422
    assert "shared inbox" in role.json()["fields"]["email"]
    temp = client.post("/api/subscribe", json={**signup, "email": "x@mailinator.com"})
    assert temp.status_code == 422
    assert "temporary address" in temp.json()["fields"]["email"]
    assert [lead.email for lead in session.scalars(select(Lead))] == ["info@clinic.org"]


def test_doctor_fails_the_embedded_default_and_passes_a_live_setup(settings) -> None:
    # A SendGrid deployment without the webhook key: doctor judges the backend in use.
    settings(base_url="http://127.0.0.1:8000", sendgrid_api_key="SG.test")
    failing = CliRunner().invoke(main, ["doctor"])
    assert failing.exit_code == 1
    assert "[FAIL] NURTURE_BASE_URL must be https://" in failing.output
    assert "[FAIL] set NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY" in failing.output
    settings(
        env="production",
        secret_key="s" * 40,
        base_url="https://nurture.clinic.org",
        booking_url="https://book.clinic.org/assessment",
        clinic_name="Riverside Spine",
        clinic_address="1 River Road, Riverside",
        clinic_phone="+1 555 201 3344",
        marketing_from_email="news@clinic.org",
        transactional_from_email="visits@clinic.org",
        sendgrid_api_key="SG.live",
        sendgrid_webhook_public_key="MFkw",
        database_url="postgresql+psycopg://u@db/nurture",
        broker_url="redis://redis:6379/0",
    )
    passing = CliRunner().invoke(main, ["doctor"])
    # Every setting is live; what is left is that the hosts `db` and `redis` do not exist on
    # this machine, which doctor checks by reaching them.
    failures = [line for line in passing.output.splitlines() if line.startswith("[FAIL]")]
    assert len(failures) == 2, passing.output
    assert failures[0] == "[FAIL] the broker at redis://redis:6379/0 does not answer"
    assert failures[1].startswith("[FAIL] the database does not answer ("), passing.output
    assert "[ok  ] Event Webhook signatures are verified" in passing.output
    assert "DMARC" in passing.output
    assert "clinic.org" in passing.output
