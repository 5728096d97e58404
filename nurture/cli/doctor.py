"""`nurture doctor`: what a configuration still needs before real people get email."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nurture.clinic import service as clinic
from nurture.core.config import Settings
from nurture.core.keyfile import key_path
from nurture.core.private_files import loose
from nurture.outbox.models import Heartbeat


@dataclass(frozen=True, slots=True)
class Check:
    """One finding."""

    level: Literal["ok", "fail", "note"]
    message: str


# The README's .env example is a made-up clinic at your-clinic.com: a copy left unchanged is as
# much an example as the defaults.
README_EXAMPLE = {
    "clinic_name": "Riverside Spine & Nerve",
    "clinic_address": "1 River Road, Suite 2, Riverside, CA 92501",
    "clinic_phone": "+1 951 555 0134",
}
EXAMPLE_DOMAIN = "your-clinic.com"


def _example(name: str, value: Any) -> bool:
    """Whether `value` is the default's or the README's, not the clinic's own."""
    text = str(value).lower()
    return bool(
        value == Settings.model_fields[name].default
        or value == README_EXAMPLE.get(name)
        or EXAMPLE_DOMAIN in text
        or text.endswith(".example")
    )


def studio_overrides(settings: Settings) -> tuple[dict[str, Any], str | None]:
    """Return the clinic details admins set in the studio, and why they could not be read."""
    url = settings.resolved_database_url
    if settings.is_sqlite:
        path = make_url(url).database
        if not path or not Path(path).exists():
            return {}, None  # no database yet, so nothing set in the studio (and none made here)
    from nurture.core.db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return clinic.overrides(session), None
    except SQLAlchemyError as exc:
        return {}, str(getattr(exc, "orig", None) or exc).splitlines()[0]
    finally:
        engine.dispose()


def _private_data(settings: Settings) -> list[Check]:
    """Fail a data directory or SQLite file that other users of the machine can read."""
    paths = [settings.data_dir.resolve()]
    if settings.is_sqlite:
        paths.append(Path(make_url(settings.resolved_database_url).database or ""))
    return [
        Check(
            "fail",
            f"{path} can be read by other users (mode {path.stat().st_mode & 0o777:o}); it holds "
            f"patient data or the signing key: chmod {'700' if path.is_dir() else '600'} {path}",
        )
        for path in paths
        if path.name and path.exists() and loose(path)
    ]


def _texts(settings: Settings) -> list[Check]:
    """Check the Twilio settings when texts are on, and remind about US sender registration."""
    if "sms" not in settings.reminder_channels:
        return [Check("note", "text messages are off (NURTURE_REMINDER_CHANNELS has no sms)")]
    if settings.resolved_text_backend != "twilio":
        where = (
            "no texts are sent"
            if settings.env == "production"
            else "texts go to the local outbox, not to phones"
        )
        return [
            Check(
                "note",
                f"{where}: to text patients, set NURTURE_TWILIO_ACCOUNT_SID, "
                "NURTURE_TWILIO_AUTH_TOKEN and NURTURE_TWILIO_FROM",
            )
        ]
    sid, sender = settings.twilio_account_sid or "", settings.twilio_from or ""
    checks = [
        Check(
            "ok" if sid.startswith("AC") and len(sid) == 34 else "fail",
            "Twilio account SID looks right"
            if sid.startswith("AC") and len(sid) == 34
            else "NURTURE_TWILIO_ACCOUNT_SID must be the account's SID (AC and 32 characters)",
        )
    ]
    from nurture.core.phones import maybe_e164

    good_sender = (sender.startswith("MG") and len(sender) == 34) or (
        maybe_e164(sender, country=settings.clinic_country) == sender
    )
    checks.append(
        Check(
            "ok" if good_sender else "fail",
            f"texts are sent from {sender}"
            if good_sender
            else "NURTURE_TWILIO_FROM must be a number in E.164 (+15550100000) or a Messaging "
            "Service SID (MG and 32 characters)",
        )
    )
    checks.append(
        Check(
            "ok" if settings.resolved_base_url.startswith("https://") else "fail",
            f"point the number's incoming-message webhook at {settings.resolved_base_url}"
            "/webhooks/twilio (replies and status reports are signed against this address)"
            if settings.resolved_base_url.startswith("https://")
            else "Twilio's webhooks need a public https:// NURTURE_BASE_URL",
        )
    )
    checks.append(
        Check(
            "note",
            "A2P 10DLC: texts from a US 10-digit number reach phones only once the brand and "
            "campaign are registered in Twilio's console (Messaging > Regulatory compliance); "
            "toll-free numbers need toll-free verification instead",
        )
    )
    return checks


def run_checks(settings: Settings) -> list[Check]:
    """Check senders, clinic details, links, secrets, delivery, broker, beat and file settings.

    Clinic details are judged as emails use them: a value set in the studio wins over its
    NURTURE_* setting, and the line says so.
    """
    checks: list[Check] = []

    def expect(ok: bool, good: str, bad: str) -> None:
        checks.append(Check("ok" if ok else "fail", good if ok else bad))

    stored, unreadable = studio_overrides(settings)
    details = clinic.details(stored, settings)

    def shown(name: str) -> str:
        value = getattr(details, name)
        return f"{value} (set in the studio)" if name in details.overridden else str(value)

    for name, label in (
        ("marketing_from_email", "marketing sender"),
        ("transactional_from_email", "transactional sender"),
    ):
        value = getattr(settings, name)
        expect(
            not _example(name, value),
            f"{label} is {value}",
            f"{label} is the example {value}; set NURTURE_{name.upper()}",
        )
    expect(
        settings.marketing_from_email != settings.transactional_from_email,
        "marketing and transactional mail use different senders",
        "use different senders for marketing and transactional mail (reputation)",
    )
    if unreadable is not None:
        checks.append(
            Check("note", f"clinic details set in the studio could not be read ({unreadable})")
        )
    elif details.overridden:
        names = ", ".join(f.name for f in clinic.FIELDS if f.name in details.overridden)
        checks.append(
            Check("note", f"clinic details set in the studio win over NURTURE_*: {names}")
        )
    studio = " or on the studio's Clinic details page"
    address = details.clinic_address
    expect(
        bool(address.strip()) and not _example("clinic_address", address),
        f"postal address is {shown('clinic_address')}",
        f"set NURTURE_CLINIC_ADDRESS{studio}: marketing email must carry the postal address",
    )
    expect(
        not _example("clinic_name", details.clinic_name),
        f"clinic name is {shown('clinic_name')}",
        f"set NURTURE_CLINIC_NAME{studio} (the example clinic's name is still in use)",
    )
    expect(
        not _example("clinic_phone", details.clinic_phone),
        f"clinic phone is {shown('clinic_phone')}",
        f"set NURTURE_CLINIC_PHONE{studio} (the example clinic's phone is in every reminder)",
    )
    base_url = settings.resolved_base_url
    expect(
        base_url.startswith("https://") and EXAMPLE_DOMAIN not in base_url,
        f"links use {base_url}",
        f"NURTURE_BASE_URL must be https:// at the clinic's own address (now {base_url})",
    )
    booking = details.booking_url
    expect(
        not _example("booking_url", booking) and booking.startswith("https://"),
        f"booking link is {shown('booking_url')}",
        f"set NURTURE_BOOKING_URL{studio} to the clinic's https booking page",
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
    checks.extend(_delivery(settings))
    expect(
        not settings.is_sqlite,
        "database is a server database",
        "use PostgreSQL (NURTURE_DATABASE_URL) in production",
    )
    checks.extend(_broker(settings))
    checks.extend(_beat(settings))
    checks.extend(_private_data(settings))
    checks.extend(_texts(settings))
    checks.extend(_dns_notes(settings))
    return checks


def _delivery(settings: Settings) -> list[Check]:
    """Judge the backend in use: SendGrid's key and webhook, the SMTP server, or the outbox."""
    backend = settings.resolved_email_backend
    checks: list[Check] = []
    signed = settings.sendgrid_webhook_public_key is not None
    if not signed and settings.sendgrid_webhook_allow_unsigned:
        # Whatever sends the mail, /webhooks/sendgrid would take these.
        checks.append(
            Check(
                "fail",
                "NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED is on: the Event Webhook takes unsigned "
                "events, so anyone could post an unsubscribe or spam report for any address; "
                "set NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY and remove the opt-in",
            )
        )
    if signed and settings.sendgrid_webhook_allow_unsigned:
        checks.append(
            Check(
                "note",
                "NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED has no effect while a public key is "
                "set (every event must be signed); remove it",
            )
        )
    if backend == "sendgrid":
        checks.append(Check("ok", "email goes through SendGrid"))
        if signed:
            checks.append(Check("ok", "Event Webhook signatures are verified"))
        elif not settings.sendgrid_webhook_allow_unsigned:
            checks.append(
                Check(
                    "fail",
                    "set NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY (SendGrid > Mail Settings > Signed "
                    "Event Webhook) and point the webhook at <base URL>/webhooks/sendgrid",
                )
            )
    elif backend == "smtp":
        checks.extend(smtp_checks(settings))
    else:
        checks.append(
            Check(
                "fail",
                "email backend is the outbox: emails are only written to files; set "
                "NURTURE_EMAIL_BACKEND=sendgrid (with NURTURE_SENDGRID_API_KEY) or smtp (with "
                "NURTURE_SMTP_HOST)",
            )
        )
    return checks


SMTP_TIMEOUT_SECONDS = 10


def _on_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def smtp_checks(settings: Settings) -> list[Check]:
    """Connect to the SMTP server as the worker would: it answers, STARTTLS, the sign-in."""
    host, port = settings.smtp_host, settings.smtp_port
    where = f"{host}:{port}"
    checks: list[Check] = []
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            smtp.ehlo()
            checks.append(Check("ok", f"email goes through the SMTP server {where}, which answers"))
            offered = smtp.has_extn("starttls")
            if settings.smtp_starttls:
                if not offered:
                    checks.append(
                        Check("fail", f"NURTURE_SMTP_STARTTLS is on but {where} offers no STARTTLS")
                    )
                    return checks
                try:
                    smtp.starttls(context=ssl.create_default_context())
                except ssl.SSLError as exc:
                    checks.append(
                        Check(
                            "fail",
                            f"STARTTLS to {where} failed: {exc}; the server needs a certificate "
                            f"valid for {host}",
                        )
                    )
                    return checks
                smtp.ehlo()
                checks.append(Check("ok", f"STARTTLS to {where}, certificate valid for {host}"))
            elif offered:
                checks.append(
                    Check(
                        "fail",
                        f"{where} offers STARTTLS but NURTURE_SMTP_STARTTLS is off: set "
                        "NURTURE_SMTP_STARTTLS=true so patients' email and the password are "
                        "encrypted on the way",
                    )
                )
            elif _on_this_machine(host):
                checks.append(Check("note", f"SMTP to {where} without STARTTLS (this machine)"))
            else:
                checks.append(
                    Check(
                        "fail",
                        f"{where} offers no STARTTLS: patients' email (and the password) would "
                        "cross the network unencrypted; use the provider's submission port "
                        "(usually 587) with NURTURE_SMTP_STARTTLS=true",
                    )
                )
            if settings.smtp_username and settings.smtp_password:
                try:
                    smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                except smtplib.SMTPException as exc:
                    checks.append(
                        Check("fail", f"SMTP sign-in as {settings.smtp_username} failed: {exc}")
                    )
                else:
                    checks.append(Check("ok", f"SMTP sign-in as {settings.smtp_username} works"))
    except (OSError, smtplib.SMTPException) as exc:
        checks.append(
            Check(
                "fail",
                f"the SMTP server {where} does not answer ({exc or type(exc).__name__}); check "
                "NURTURE_SMTP_HOST and NURTURE_SMTP_PORT",
            )
        )
    return checks


def _broker(settings: Settings) -> list[Check]:
    """The broker is Redis and answers."""
    url = settings.resolved_broker_url
    if not url.startswith(("redis://", "rediss://")):
        return [Check("fail", "use Redis as the broker (NURTURE_BROKER_URL) in production")]
    from nurture.cli.common import redact
    from nurture.core.readiness import broker_answers

    if broker_answers(settings):
        return [Check("ok", f"broker is Redis at {redact(url)}, which answers")]
    return [Check("fail", f"the broker at {redact(url)} does not answer")]


def last_tick(settings: Settings) -> tuple[datetime | None, str | None]:
    """Return when beat's tick last ran, and why the database could not say."""
    if settings.is_sqlite:
        path = make_url(settings.resolved_database_url).database
        if not path or not Path(path).exists():
            return None, None
    from nurture.core.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            beat = session.get(Heartbeat, "tick")
            return (beat.beat_at if beat is not None else None), None
    except SQLAlchemyError as exc:
        return None, str(getattr(exc, "orig", None) or exc).splitlines()[0]
    finally:
        engine.dispose()


def _beat(settings: Settings) -> list[Check]:
    """Beat's heartbeat: the tick ran within three intervals."""
    from nurture.core import clock
    from nurture.core.readiness import tick_age, tick_is_fresh

    last, unreadable = last_tick(settings)
    if unreadable is not None:
        return [Check("fail", f"the database does not answer ({unreadable})")]
    age = tick_age(last, clock.now())
    if tick_is_fresh(age, settings):
        return [Check("ok", f"beat ticks: the last tick ran {age:.0f} s ago")]
    when = "has never run" if age is None else f"last ran {age:.0f} s ago"
    return [
        Check(
            "fail",
            f"beat's tick {when} (every {settings.tick_seconds:g} s expected): no email goes "
            "out until `nurture beat` and a `nurture worker` run",
        )
    ]


def _dns_notes(settings: Settings) -> list[Check]:
    """SPF, DKIM and DMARC for the senders' domain, for the provider in use."""
    domain = settings.marketing_from_email.rpartition("@")[2]
    if settings.resolved_email_backend == "sendgrid":
        spf = "include SendGrid (include:sendgrid.net) or use SendGrid's domain authentication"
        dkim = f"authenticate {domain} in SendGrid (Sender Authentication) and publish its CNAME "
        dkim += "records"
    else:
        spf = f"include the servers of the mail provider behind {settings.smtp_host}"
        dkim = f"have the mail provider sign mail for {domain} and publish its DKIM record"
    return [
        Check("note", f"SPF: the DNS TXT record of {domain} must {spf}"),
        Check("note", f"DKIM: {dkim}"),
        Check(
            "note",
            f"DMARC: publish a _dmarc.{domain} TXT record, starting with p=none and a reporting "
            "address",
        ),
    ]
