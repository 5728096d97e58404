"""`nurture doctor`: what a configuration still needs before real people get email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nurture.config import Settings
from nurture.keyfile import key_path


@dataclass(frozen=True, slots=True)
class Check:
    """One finding."""

    level: Literal["ok", "fail", "note"]
    message: str


def _is_default(settings: Settings, name: str) -> bool:
    return bool(getattr(settings, name) == Settings.model_fields[name].default)


def run_checks(settings: Settings) -> list[Check]:
    """Check senders, postal address, links, secrets, provider and webhook settings."""
    checks: list[Check] = []

    def expect(ok: bool, good: str, bad: str) -> None:
        checks.append(Check("ok" if ok else "fail", good if ok else bad))

    for name, label in (
        ("marketing_from_email", "marketing sender"),
        ("transactional_from_email", "transactional sender"),
    ):
        value = getattr(settings, name)
        expect(
            not _is_default(settings, name) and not value.endswith(".example"),
            f"{label} is {value}",
            f"{label} is the example {value}; set NURTURE_{name.upper()}",
        )
    expect(
        settings.marketing_from_email != settings.transactional_from_email,
        "marketing and transactional mail use different senders",
        "use different senders for marketing and transactional mail (reputation)",
    )
    expect(
        bool(settings.clinic_address.strip()) and not _is_default(settings, "clinic_address"),
        "postal address is set (shown in every marketing email)",
        "set NURTURE_CLINIC_ADDRESS: marketing email must carry the clinic's postal address",
    )
    expect(
        not _is_default(settings, "clinic_name"),
        f"clinic name is {settings.clinic_name}",
        "set NURTURE_CLINIC_NAME (the example clinic's name is still in use)",
    )
    expect(
        settings.resolved_base_url.startswith("https://"),
        f"links use {settings.resolved_base_url}",
        f"NURTURE_BASE_URL must be https:// (now {settings.resolved_base_url})",
    )
    expect(
        not _is_default(settings, "booking_url") and settings.booking_url.startswith("https://"),
        "booking link is set",
        "set NURTURE_BOOKING_URL to the clinic's https booking page",
    )
    # The settings refuse a placeholder or short key, so a set key is a usable one.
    expect(
        settings.secret_key is not None,
        "secret key is set (NURTURE_SECRET_KEY)",
        f"NURTURE_SECRET_KEY is unset: links and sessions are signed with the key generated in "
        f"{key_path(settings.data_dir)}, which only processes sharing that data directory know; "
        "set NURTURE_SECRET_KEY to 32+ random characters, the same for web, worker and beat",
    )
    expect(
        settings.env == "production",
        "NURTURE_ENV is production",
        "set NURTURE_ENV=production (hides /outbox, refuses placeholder secrets)",
    )
    expect(
        settings.resolved_email_backend == "sendgrid",
        "email goes through SendGrid",
        f"email backend is {settings.resolved_email_backend}; set NURTURE_SENDGRID_API_KEY",
    )
    expect(
        settings.sendgrid_webhook_public_key is not None,
        "Event Webhook signatures are verified",
        "set NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY (SendGrid > Mail Settings > Signed Event "
        "Webhook) and point the webhook at <base URL>/webhooks/sendgrid",
    )
    expect(
        not settings.is_sqlite,
        "database is a server database",
        "use PostgreSQL (NURTURE_DATABASE_URL) in production",
    )
    expect(
        settings.resolved_broker_url.startswith(("redis://", "rediss://")),
        "broker is Redis",
        "use Redis as the broker (NURTURE_BROKER_URL) in production",
    )
    domain = settings.marketing_from_email.rpartition("@")[2]
    checks.append(
        Check(
            "note",
            f"SPF: the DNS TXT record of {domain} must include SendGrid "
            "(include:sendgrid.net) or use SendGrid's domain authentication",
        )
    )
    checks.append(
        Check(
            "note",
            f"DKIM: authenticate {domain} in SendGrid (Sender "
            "Authentication) and publish its CNAME records",
        )
    )
    checks.append(
        Check(
            "note",
            f"DMARC: publish a _dmarc.{domain} TXT record, starting with "
            "p=none and a reporting address",
        )
    )
    return checks
