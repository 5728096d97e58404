"""Delivery backends behind one small interface: outbox files, SendGrid, SMTP."""

from __future__ import annotations

import os
import smtplib
import socket
import urllib.error
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from nurture import clock
from nurture.config import Settings, get_settings
from nurture.delivery import headers
from nurture.private_files import private_dir, private_opener


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an email."""

    filename: str
    content: bytes
    mime_type: str  # e.g. "text/calendar; method=PUBLISH"


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A fully rendered email, ready for any backend."""

    to_email: str
    from_email: str
    from_name: str
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    # Opaque, non-personal identifiers the provider echoes back in its events.
    custom_args: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    reply_to: str | None = None
    # Provider open/click tracking; always off for transactional mail such as reminders.
    track_opens: bool = False
    track_clicks: bool = False
    attachments: tuple[Attachment, ...] = ()


class DeliveryError(Exception):
    """Base class: the email was not accepted by the provider."""

    default_reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class PermanentError(DeliveryError):
    """The provider refused this email; retrying will not help."""

    default_reason = "rejected"


class TransientError(DeliveryError):
    """The provider did not take the email this time; retry later, at `retry_at` if given."""

    default_reason = "server_error"

    def __init__(
        self, message: str, *, retry_at: datetime | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_at = retry_at


class UnknownOutcome(DeliveryError):
    """The request went out but no answer came back: the email may have been sent."""

    default_reason = "no_answer"


class Backend(Protocol):
    """Hands one email to a provider and returns the provider's message id."""

    name: str

    def send(self, email: OutgoingEmail) -> str:
        """Deliver `email`; raise a DeliveryError subclass when it was not accepted."""
        ...


def checked(email: OutgoingEmail) -> OutgoingEmail:
    """Return `email` with every header value on one line; raise UnsafeHeader if one cannot be.

    Every backend calls this, so no name, subject or header value can add a header.
    """
    return replace(
        email,
        to_email=headers.address("To", email.to_email),
        from_email=headers.address("From", email.from_email),
        from_name=headers.text("From", email.from_name),
        reply_to=headers.address("Reply-To", email.reply_to) if email.reply_to else None,
        subject=headers.text("Subject", email.subject),
        headers={
            headers.field_name(name): headers.text(name, value)
            for name, value in email.headers.items()
        },
    )


def build_failed(exc: Exception) -> PermanentError:
    """The error for an email that could not be built: nothing was sent, retrying cannot help."""
    return PermanentError(
        f"could not build the email: {type(exc).__name__}: {exc}"[:2000], reason="invalid_email"
    )


_MIME_POLICY = policy.SMTP.clone(max_line_length=998)
# Body parts are built apart from the message under this policy: the email package cuts
# quoted-printable and base64 lines to the part's policy, and the message's 998 would make
# lines of ~996 characters (RFC 2045 allows 76, and spam filters score longer ones).
_PART_POLICY = policy.SMTP.clone(max_line_length=76)


def build_mime(email: OutgoingEmail, message_id: str) -> EmailMessage:
    """Build a standard multipart/alternative message (text first, then HTML).

    Raises UnsafeHeader (a ValueError) rather than build a message with a header it was not
    asked for.
    """
    email = checked(email)
    # Long tokens in List-Unsubscribe must not be folded into encoded words; RFC 5322 allows
    # lines up to 998 characters.
    msg = EmailMessage(policy=_MIME_POLICY)
    msg["From"] = Address(display_name=email.from_name, addr_spec=email.from_email)
    msg["To"] = email.to_email
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = message_id
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    for name, value in email.headers.items():
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    for body, subtype in ((email.text, "plain"), (email.html, "html")):
        part = EmailMessage(policy=_PART_POLICY)
        part.set_content(body, subtype=subtype)
        del part["MIME-Version"]  # the message says it once, at the top
        msg.attach(part)
    if email.attachments:
        msg.make_mixed()
    for item in email.attachments:
        kind, _, params = item.mime_type.partition(";")
        maintype, _, subtype = kind.strip().partition("/")
        extra = dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p)
        part = EmailMessage(policy=_PART_POLICY)
        part.set_content(
            item.content, maintype=maintype, subtype=subtype, filename=item.filename, params=extra
        )
        del part["MIME-Version"]
        msg.attach(part)
    # Whatever the email package (which differs between Python releases) made of the values,
    # the header block must hold exactly the fields set above.
    headers.check_lines(msg.as_bytes(), msg.keys())
    return msg


class OutboxBackend:
    """Writes each email as an .eml file a person can open (the embedded default)."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, email: OutgoingEmail) -> str:
        """Write the email atomically to `<directory>/<time>-<id>.eml`."""
        message_id = make_msgid(domain="nurture.local")
        try:
            data = bytes(build_mime(email, message_id))
        except Exception as exc:  # noqa: BLE001 - nothing was written; this email fails alone
            raise build_failed(exc) from exc
        private_dir(self.directory)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        final = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        partial = final.with_suffix(".eml.part")
        with open(partial, "wb", opener=private_opener) as fh:  # an email to a patient
            fh.write(data)
        os.replace(partial, final)
        return message_id


class SMTPBackend:
    """Sends through an SMTP relay (Mailpit in docker-compose, or the clinic's own)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, email: OutgoingEmail) -> str:
        """Send one message over a fresh SMTP session."""
        s = self.settings
        message_id = make_msgid(domain=email.from_email.rpartition("@")[2] or "nurture.local")
        try:
            mime = build_mime(email, message_id)
        except Exception as exc:  # noqa: BLE001 - built before connecting: nothing was sent
            raise build_failed(exc) from exc
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"SMTP connection failed: {exc}", reason="connection") from exc
        return message_id


def get_backend(settings: Settings | None = None) -> Backend:
    """Return the backend the settings choose."""
    settings = settings or get_settings()
    backend = settings.resolved_email_backend
    if backend == "sendgrid":
        from nurture.delivery.sendgrid_backend import SendGridBackend, SendGridPackageBackend

        if settings.sendgrid_transport == "package":
            return SendGridPackageBackend(settings)
        return SendGridBackend(settings)
    if backend == "smtp":
        return SMTPBackend(settings)
    return OutboxBackend(settings.resolved_outbox_dir)


def is_connect_failure(exc: BaseException) -> bool:
    """Tell whether a network error happened before the request could have been sent."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return True  # urllib wraps failures to connect (refused, DNS, connect timeout)
    return isinstance(exc, ConnectionRefusedError | socket.gaierror)


def utc_from_epoch(value: str | None) -> datetime | None:
    """Parse an epoch-seconds header such as X-RateLimit-Reset."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (ValueError, OverflowError):
        return None
