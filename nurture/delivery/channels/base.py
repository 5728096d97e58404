"""The channel interface: a prepared email, the backend that sends it, and its error types.

`Backend.send_batch` is the one call the engine makes: "send these prepared emails and report
per message", each as `Sent` (the provider's id) or one of the error types. Its default sends
them one by one with `send`; a provider that can take many in one request overrides it.

Each provider lives in its own module beside this one (outbox.py, smtp.py, sendgrid_api.py,
sendgrid_package.py); registry.py picks one from the settings.
"""

from __future__ import annotations

import logging
import socket
import urllib.error
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from nurture.core import dates, headers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an email."""

    filename: str
    content: bytes
    mime_type: str  # e.g. "text/calendar; method=PUBLISH"


@dataclass(frozen=True, slots=True, eq=False)
class SharedBody:
    """Body parts shared by many emails, with a token where each one's own values go.

    A provider that fills in per recipient (SendGrid's substitutions) sends the parts once for
    all of them; every other channel sends each email's own `html` and `text`, which are
    these parts filled in. Compared by identity: one per rendered step.
    """

    html: str
    text: str


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
    # The language it is written in (recorded on the outbox row; not sent to the provider).
    language: str | None = None
    # Set when `html` and `text` are `shared` with each token replaced by its value here.
    shared: SharedBody | None = None
    substitutions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingText:
    """A fully rendered text message, ready for any text backend."""

    to_phone: str  # E.164
    body: str
    # Nurture's outbox row, so a provider's status callback finds it again.
    message_id: int = 0
    status_callback: str | None = None

    @property
    def subject(self) -> str:
        """The first words of the text, where the outbox shows an email's subject."""
        return self.body[:60]


# The reason of a PermanentError for a recipient who opted out at the provider (Twilio's 21610).
UNSUBSCRIBED = "unsubscribed"

# The reason of a TransientError when the provider refuses the clinic's own account (a revoked
# key, a wrong password, a sender not yet verified): nothing about the recipient is wrong, so the
# message waits on the retry schedule, for as long as it makes sense, until the account is fixed.
ACCOUNT_REFUSED = "account"


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

    def __init__(
        self, message: str, *, provider_id: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        # The id the provider would know the email by (SMTP: its Message-ID), to look it up.
        self.provider_id = provider_id


@dataclass(frozen=True, slots=True)
class Sent:
    """The provider accepted the email under this id."""

    provider_id: str


# What happened to one email of a batch: accepted, or why not.
SendOutcome = Sent | DeliveryError


class Backend(Protocol):
    """Hands prepared emails to a provider and reports, per email, what became of it."""

    name: str

    def send(self, email: OutgoingEmail) -> str:
        """Deliver `email`; raise a DeliveryError subclass when it was not accepted."""
        ...

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        """Send `emails` and return one outcome per email, in order (default: `send` each).

        `pool` lets the default send several at once; an email's failure never sinks the rest.
        """
        run = pool.map if pool is not None else map
        return list(run(lambda email: send_one(self, email), emails))


def send_one(backend: Backend, email: OutgoingEmail) -> SendOutcome:
    """Send one email with `backend.send` and turn what happened into its outcome."""
    try:
        return Sent(backend.send(email))
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - one email's surprise must not sink its batch
        log.exception("backend %s raised for an email to send", backend.name)
        # It may have gone out before the error: settle it as unknown, never send blindly.
        return UnknownOutcome(f"the {backend.name} backend raised {type(exc).__name__}: {exc}")


class TextBackend(Protocol):
    """Hands one text to a provider and returns the provider's message id."""

    name: str

    def send_text(self, text: OutgoingText) -> str:
        """Deliver `text`; raise a DeliveryError subclass when it was not accepted."""
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
        return dates.check_moment(datetime.fromtimestamp(int(float(value)), UTC))
    except (ValueError, OverflowError, OSError):
        return None
