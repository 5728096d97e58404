"""Texts through Twilio's Messages API, with the `twilio` package's own client.

`NURTURE_TWILIO_API_BASE` replaces the API's address (the client's `api` domain), so a local
server that speaks the Messages API can stand in for Twilio.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from nurture.core.config import Settings
from nurture.delivery.channels.base import (
    ACCOUNT_REFUSED,
    UNSUBSCRIBED,
    OutgoingText,
    PermanentError,
    TransientError,
    UnknownOutcome,
)

# Twilio error codes that say the number will never take this text (retrying cannot help):
# 21211 invalid 'To', 21610 the recipient replied STOP, 21614 not a mobile number,
# 21408/21612 the region or route is not allowed for this account.
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614})


def sender_fields(sender: str) -> dict[str, str]:
    """Return the client's keyword for the sender: a Messaging Service SID or a number."""
    if sender.startswith("MG"):
        return {"messaging_service_sid": sender}
    return {"from_": sender}


def classify(exc: TwilioRestException) -> PermanentError | TransientError:
    """Map Twilio's error answer onto the delivery error classes."""
    detail = f"Twilio {exc.status} (code {exc.code}): {exc.msg}"[:2000]
    if exc.status == 429:
        return TransientError(detail, reason="rate_limited")
    if exc.status >= 500:
        return TransientError(detail)
    if exc.status == 401:  # the clinic's account SID or token, not the recipient
        return TransientError(detail, reason=ACCOUNT_REFUSED)
    if exc.code in PERMANENT_CODES or 400 <= exc.status < 500:
        reason = UNSUBSCRIBED if exc.code == 21610 else "rejected"
        return PermanentError(detail, reason=reason)
    return TransientError(detail)  # pragma: no cover - every status is handled above


class TwilioBackend:
    """Posts each text to Twilio's Messages API through the `twilio` package's client."""

    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        assert settings.twilio_account_sid is not None  # checked when settings load
        assert settings.twilio_auth_token is not None
        assert settings.twilio_from is not None
        # No retries (the package's default too): a POST retried after a timeout could send the
        # same text twice; the engine settles such a text as unknown instead.
        http = TwilioHttpClient(timeout=settings.twilio_timeout_seconds, max_retries=0)
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=http,
        )
        self.client.api.base_url = settings.twilio_api_base
        self.sender = sender_fields(settings.twilio_from)
        self.account_sid = settings.twilio_account_sid

    def send_text(self, text: OutgoingText) -> str:
        """Send one text; return Twilio's message SID (SM...)."""
        extra = {"status_callback": text.status_callback} if text.status_callback else {}
        try:
            message = self.client.messages.create(
                to=text.to_phone, body=text.body, **self.sender, **extra
            )
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise TransientError(f"could not reach Twilio: {exc!r}", reason="connection") from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientError(
                    f"could not reach Twilio: {exc!r}", reason="connection"
                ) from exc
            raise UnknownOutcome(f"no answer from Twilio after sending: {exc!r}") from exc
        except (requests.exceptions.RequestException, TwilioException) as exc:
            # A read timeout, or an answer the client could not read: the text may be out.
            raise UnknownOutcome(f"no answer from Twilio after sending: {exc!r}") from exc
        if not message.sid:
            raise UnknownOutcome("Twilio accepted the text without a message SID")
        return str(message.sid)


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell whether the connection failed before any byte of the request was sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, NewConnectionError | NameResolutionError | ConnectionRefusedError)
