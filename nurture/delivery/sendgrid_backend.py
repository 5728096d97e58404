"""SendGrid v3 Mail Send through the official `sendgrid` package."""

from __future__ import annotations

import json
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, CustomArg, From, Header, Mail, ReplyTo, To

from nurture.config import Settings
from nurture.delivery.backends import (
    OutgoingEmail,
    PermanentError,
    TransientError,
    UnknownOutcome,
    is_connect_failure,
    utc_from_epoch,
)


def build_mail(email: OutgoingEmail) -> Mail:
    """Build the v3 payload with the package's Mail helper."""
    mail = Mail(
        from_email=From(email.from_email, email.from_name),
        to_emails=To(email.to_email),
        subject=email.subject,
        plain_text_content=email.text,
        html_content=email.html,
    )
    for name, value in email.headers.items():
        mail.header = Header(name, value)
    for key, value in email.custom_args.items():
        mail.custom_arg = CustomArg(key, value)
    for category in email.categories:
        mail.category = Category(category)
    if email.reply_to:
        mail.reply_to = ReplyTo(email.reply_to)
    return mail


def _error_text(body: Any) -> str:
    """Pull SendGrid's `errors[].message` (and field) out of an error body."""
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in data.get("errors", [])
        ]
        return "; ".join(parts) or str(data)
    except (ValueError, AttributeError, TypeError):
        return str(body)[:500]


class SendGridBackend:
    """Posts each email to `<NURTURE_SENDGRID_API_HOST>/v3/mail/send`."""

    name = "sendgrid"

    def __init__(self, settings: Settings) -> None:
        assert settings.sendgrid_api_key is not None  # checked when settings load
        self.client = SendGridAPIClient(
            api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_api_host
        )
        self.client.client.timeout = settings.sendgrid_timeout_seconds

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; map SendGrid's answers onto the delivery error classes."""
        try:
            response = self.client.send(build_mail(email))
        except http_errors.HTTPError as exc:
            status = int(exc.status_code)
            detail = f"SendGrid {status}: {_error_text(exc.body)}"
            if status == 429:
                reset = utc_from_epoch((exc.headers or {}).get("X-RateLimit-Reset"))
                raise TransientError(detail, retry_at=reset) from exc
            if status >= 500:
                raise TransientError(detail) from exc
            raise PermanentError(detail) from exc
        except OSError as exc:
            if is_connect_failure(exc):
                raise TransientError(f"could not reach SendGrid: {exc}") from exc
            raise UnknownOutcome(f"no answer from SendGrid after sending: {exc!r}") from exc
        message_id = response.headers.get("X-Message-Id") or ""
        if not message_id:
            raise UnknownOutcome(f"SendGrid answered {response.status_code} without X-Message-Id")
        return str(message_id)
