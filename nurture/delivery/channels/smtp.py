"""The SMTP channel: one message per session through a relay."""

from __future__ import annotations

import smtplib
from email.utils import make_msgid

from nurture.core.config import Settings
from nurture.delivery.channels.base import (
    Backend,
    OutgoingEmail,
    PermanentError,
    TransientError,
    build_failed,
)
from nurture.delivery.channels.mime import build_mime


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
