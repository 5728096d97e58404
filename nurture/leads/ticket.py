"""The sealed ticket a signup's "Check your inbox" page carries in its URL and forms.

It holds the address and the answers given, so it is encrypted as well as signed: the URL
lands in browser history and access logs, and must show neither the address nor whether it
was already known. It lives an hour, long enough to notice a typo and short enough that a
copied URL soon stops working.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from nurture.core import clock
from nurture.core.config import get_settings

MAX_AGE_SECONDS = 3600


class InvalidTicket(Exception):
    """The ticket was forged, altered or has expired."""


def _fernet() -> Fernet:
    secret = get_settings().resolved_secret_key.encode()
    key = hashlib.sha256(b"nurture.signup-ticket\x00" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(payload: dict[str, Any]) -> str:
    """Encrypt and sign `payload` into a URL-safe ticket stamped with nurture's clock."""
    data = json.dumps(payload, separators=(",", ":")).encode()
    return _fernet().encrypt_at_time(data, int(clock.now().timestamp())).decode()


def unseal(ticket: str) -> dict[str, Any]:
    """Return the payload of a ticket made within the last hour, or raise InvalidTicket."""
    try:
        data = _fernet().decrypt_at_time(
            ticket.encode(), MAX_AGE_SECONDS, int(clock.now().timestamp())
        )
        payload = json.loads(data)
    except (InvalidToken, ValueError) as exc:
        raise InvalidTicket("This page has expired.") from exc
    if not isinstance(payload, dict):
        raise InvalidTicket("This page has expired.")
    return payload
