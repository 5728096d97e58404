"""SendGrid through the `sendgrid` package's own client (one connection per request).

The payload is the one sendgrid_api.py builds; only the transport differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from nurture.core.config import Settings
from nurture.delivery.channels.base import (
    Backend,
    OutgoingEmail,
    SendOutcome,
    TransientError,
    UnknownOutcome,
    build_failed,
    is_connect_failure,
)
from nurture.delivery.channels.sendgrid_api import Answer, build_mail, raise_for_status, send_batch


class SendGridPackageBackend(Backend):
    """The same payload through the `sendgrid` package's client (one connection per request)."""

    name = "sendgrid-package"

    def __init__(self, settings: Settings) -> None:
        assert settings.sendgrid_api_key is not None
        self.client = SendGridAPIClient(
            api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_api_host
        )
        self.client.client.timeout = settings.sendgrid_timeout_seconds
        self.per_request = settings.sendgrid_batch_size

    def post(self, body: dict[str, Any]) -> Answer:
        """Post one Mail Send body; raise a DeliveryError when no answer says what happened."""
        try:
            response = self.client.client.mail.send.post(request_body=body)
        except http_errors.HTTPError as exc:
            return Answer(int(exc.status_code), exc.body, exc.headers)
        except OSError as exc:
            if is_connect_failure(exc):
                raise TransientError(
                    f"could not reach SendGrid: {exc}", reason="connection"
                ) from exc
            raise UnknownOutcome(f"no answer from SendGrid after sending: {exc!r}") from exc
        return Answer(response.status_code, response.body, response.headers)

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        """Send emails that share a body many to a request; the rest one request each."""
        return send_batch(self, emails, pool=pool, per_request=self.per_request)

    def send(self, email: OutgoingEmail) -> str:
        """Send one email through the package's urllib-based client."""
        try:
            mail = build_mail(email)
        except Exception as exc:  # noqa: BLE001 - built before any request: nothing was sent
            raise build_failed(exc) from exc
        try:
            response = self.client.send(mail)
        except http_errors.HTTPError as exc:
            raise_for_status(int(exc.status_code), exc.body, exc.headers)
            raise  # pragma: no cover - raise_for_status always raises for an HTTPError
        except OSError as exc:
            if is_connect_failure(exc):
                raise TransientError(
                    f"could not reach SendGrid: {exc}", reason="connection"
                ) from exc
            raise UnknownOutcome(f"no answer from SendGrid after sending: {exc!r}") from exc
        message_id = response.headers.get("X-Message-Id") or ""
        if not message_id:
            raise UnknownOutcome(f"SendGrid answered {response.status_code} without X-Message-Id")
        return str(message_id)
