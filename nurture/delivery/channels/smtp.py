"""The SMTP channel: messages through a relay, many per session in a batch.

Once the message has been written after DATA, the relay may have queued it even if its reply
never comes (RFC 5321 gives it ten minutes): a timeout or a dropped connection from then on is
an UnknownOutcome, never a retry that could deliver it twice.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from concurrent.futures import Executor
from email.utils import make_msgid
from typing import TYPE_CHECKING

from nurture.core.config import Settings
from nurture.delivery.channels.base import (
    ACCOUNT_REFUSED,
    Backend,
    DeliveryError,
    OutgoingEmail,
    PermanentError,
    SendOutcome,
    Sent,
    TransientError,
    UnknownOutcome,
    build_failed,
)
from nurture.delivery.channels.mime import build_mime

if TYPE_CHECKING:
    from typing_extensions import Buffer


class _TrackedSMTP(smtplib.SMTP):
    """An SMTP session that notes when the whole message (ending in CRLF.CRLF) was written."""

    payload_sent = False

    def send(self, s: Buffer | str) -> None:
        """Write to the server; remember when the message's final dot went out."""
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.payload_sent = True


class SMTPBackend(Backend):
    """Sends through an SMTP relay (Mailpit in docker-compose, or the clinic's own)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, email: OutgoingEmail) -> str:
        """Send one message over a fresh SMTP session."""
        session = _Session(self.settings)
        try:
            return session.deliver(email)
        finally:
            session.close()

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        """Send emails over a few sessions that each carry many messages, one after another."""
        width = max(1, min(self.settings.send_concurrency, len(emails)))
        lanes = [list(range(i, len(emails), width)) for i in range(width)]

        def lane(indexes: list[int]) -> list[SendOutcome]:
            session = _Session(self.settings)
            try:
                return [session.outcome(emails[i]) for i in indexes]
            finally:
                session.close()

        run = pool.map if pool is not None else map
        outcomes: list[SendOutcome | None] = [None] * len(emails)
        for indexes, results in zip(lanes, run(lane, lanes), strict=True):
            for i, outcome in zip(indexes, results, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]


class _Session:
    """One SMTP session, opened when first needed and dropped after any error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: _TrackedSMTP | None = None

    def _open(self) -> _TrackedSMTP:
        s = self.settings
        smtp = self.smtp = _TrackedSMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        if s.smtp_starttls:
            # Verify the relay's certificate and name, as `nurture doctor` does: an
            # unverified STARTTLS would hand patients' mail to whoever answers.
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_username and s.smtp_password:
            smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        return smtp

    def outcome(self, email: OutgoingEmail) -> SendOutcome:
        """Send one message on this session and say what became of it."""
        try:
            return Sent(self.deliver(email))
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - one email's surprise must not sink the rest
            self.close()
            return UnknownOutcome(f"the smtp backend raised {type(exc).__name__}: {exc}")

    def deliver(self, email: OutgoingEmail) -> str:
        """Send one message, opening the session if needed; raise a DeliveryError if not sent."""
        message_id = make_msgid(domain=email.from_email.rpartition("@")[2] or "nurture.local")
        try:
            mime = build_mime(email, message_id)
        except Exception as exc:  # noqa: BLE001 - built before connecting: nothing was sent
            raise build_failed(exc) from exc
        smtp = self.smtp
        try:
            if smtp is None:
                smtp = self._open()
            smtp.payload_sent = False
            smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            raise PermanentError(
                f"recipient refused: {exc.recipients}", reason="recipient_refused"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            self.close()  # the clinic's SMTP login, not the recipient
            raise TransientError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", reason=ACCOUNT_REFUSED
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            sent = smtp is not None and smtp.payload_sent
            self.close()
            if sent:
                raise UnknownOutcome(
                    f"no answer from the SMTP server after the message was sent: {exc!r}",
                    provider_id=message_id,
                ) from exc
            raise TransientError(f"SMTP connection failed: {exc}", reason="connection") from exc
        return message_id

    def close(self) -> None:
        """End the session, if one is open."""
        if self.smtp is not None:
            smtp, self.smtp = self.smtp, None
            _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely if the server still listens; close the socket either way."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
