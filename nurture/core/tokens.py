"""Signed, opaque tokens for links in emails (confirm, unsubscribe, preferences)."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from nurture.core import clock
from nurture.core.config import get_settings


class InvalidToken(Exception):
    """A token was forged, tampered with, made for another purpose, or has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class _ClockSigner(TimestampSigner):
    """Stamp and age tokens by nurture's clock, so `tick --now` and tests move link expiry too."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    secret = get_settings().resolved_secret_key
    return URLSafeTimedSerializer(secret, salt=f"nurture.{purpose}", signer=_ClockSigner)


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    """Sign `payload` for one purpose; the result is safe in a URL path."""
    return str(_serializer(purpose).dumps(payload))


def read_token(purpose: str, token: str, *, max_age_seconds: int | None = None) -> dict[str, Any]:
    """Return the payload of a token made for `purpose`, or raise InvalidToken."""
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise InvalidToken("This link has expired.", expired=True) from exc
    except BadSignature as exc:
        raise InvalidToken("This link is not valid.") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("This link is not valid.")
    return payload
