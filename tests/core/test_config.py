"""Settings: embedded defaults, switching to real services, refusing placeholders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nurture.core.config import PLACEHOLDER_SECRET, Settings


def test_unset_means_embedded_default(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'nurture.db'}"
    assert s.resolved_broker_url.startswith("filesystem://")
    assert s.resolved_email_backend == "outbox"
    assert s.resolved_outbox_dir == tmp_path / "outbox"


def test_environment_switches_to_real_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_DATABASE_URL", "postgresql+psycopg://u@db/nurture")
    monkeypatch.setenv("NURTURE_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("NURTURE_SENDGRID_API_KEY", "SG.key")
    s = Settings()
    assert s.resolved_database_url == "postgresql+psycopg://u@db/nurture"
    assert s.resolved_broker_url == "redis://redis:6379/0"
    assert s.resolved_email_backend == "sendgrid"


def test_placeholder_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_ENV", "production")
    monkeypatch.setenv("NURTURE_SECRET_KEY", PLACEHOLDER_SECRET)
    with pytest.raises(ValidationError, match="NURTURE_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("NURTURE_SECRET_KEY", "k" * 40)
    assert Settings().env == "production"


def test_sendgrid_backend_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_EMAIL_BACKEND", "sendgrid")
    with pytest.raises(ValidationError, match="NURTURE_SENDGRID_API_KEY"):
        Settings()


def test_unknown_clinic_timezone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_CLINIC_TIMEZONE", "Atlantis/Capital")
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        Settings()


def test_forwarded_allow_ips_takes_addresses_and_networks_only() -> None:
    assert Settings(forwarded_allow_ips=" 172.30.255.2, 10.0.0.0/8 ,::1").forwarded_allow_ips == (
        "172.30.255.2,10.0.0.0/8,::1"
    )
    with pytest.raises(ValidationError, match="'caddy' is not an IP address or network"):
        Settings(forwarded_allow_ips="caddy")
