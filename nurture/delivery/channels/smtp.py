"""The SMTP channel: one message per session through a relay.

Once the message has been written after DATA, the relay may have queued it even if its reply
never comes (RFC 5321 gives it ten minutes): a timeout or a dropped connection from then on is
an UnknownOutcome, never a retry that could deliver it twice.
"""

from __future__ import annotations

import smtplib
import ssl
from email.utils import make_msgid
from typing import TYPE_CHECKING

from nurture.core.config import Settings
from nurture.delivery.channels.base import (
    Backend,
    OutgoingEmail,
    PermanentError,
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
        s = self.settings
        message_id = make_msgid(domain=email.from_email.rpartition("@")[2] or "nurture.local")
        try:
            mime = build_mime(email, message_id)
        except Exception as exc:  # noqa: BLE001 - built before connecting: nothing was sent
            raise build_failed(exc) from exc
        smtp: _TrackedSMTP | None = None
        try:
            smtp = _TrackedSMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                # Verify the relay's certificate and name, as `nurture doctor` does: an
                # unverified STARTTLS would hand patients' mail to whoever answers.
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(
                f"recipient refused: {exc.recipients}", reason="recipient_refused"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None and smtp.payload_sent:
                raise UnknownOutcome(
                    f"no answer from the SMTP server after the message was sent: {exc!r}",
                    provider_id=message_id,
                ) from exc
            raise TransientError(f"SMTP connection failed: {exc}", reason="connection") from exc
        finally:
            if smtp is not None:
                _quit(smtp)
        return message_id


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely if the server still listens; close the socket either way."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
