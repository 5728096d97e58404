"""Signed, opaque tokens for links in emails (confirm, unsubscribe, preferences)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.translations import N_


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
    return _serializer_for(get_settings().resolved_secret_key, purpose)


@functools.lru_cache(maxsize=64)
def _serializer_for(secret: str, purpose: str) -> URLSafeTimedSerializer:
    # Kept per (secret, purpose): every marketing email signs two links, and building the
    # serializer cost a fifth of signing. A new secret makes new ones.
    return URLSafeTimedSerializer(secret, salt=f"nurture.{purpose}", signer=_ClockSigner)


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    """Sign `payload` for one purpose; the result is safe in a URL path."""
    return str(_serializer(purpose).dumps(payload))


def read_token(purpose: str, token: str, *, max_age_seconds: int | None = None) -> dict[str, Any]:
    """Return the payload of a token made for `purpose`, or raise InvalidToken."""
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise InvalidToken(N_("This link has expired."), expired=True) from exc
    except BadSignature as exc:
        raise InvalidToken(N_("This link is not valid.")) from exc
    if not isinstance(payload, dict):
        raise InvalidToken(N_("This link is not valid."))
    return payload


# Compact tokens: numbers and a time stamp in the clear, then 16 bytes of HMAC-SHA256. A link
# that a patient may have to copy by hand stays short (about 40 characters), and its hyphens
# let it wrap on a phone in mail programs that cannot break words.
_COMPACT_MAC_BYTES = 16
_COMPACT = re.compile(r"^(\d{1,18}(?:-\d{1,18})*)-([0-9a-z]{1,12})-([A-Za-z0-9_-]{22})$")


def _compact_mac(purpose: str, message: str) -> str:
    key = get_settings().resolved_secret_key.encode()
    digest = hmac.new(key, f"nurture.compact.{purpose}:{message}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:_COMPACT_MAC_BYTES]).decode().rstrip("=")


def make_compact_token(purpose: str, numbers: tuple[int, ...]) -> str:
    """Sign non-negative `numbers` and the time for one purpose, as `1-0-<time>-<mac>`."""
    if not numbers or any(n < 0 for n in numbers):
        raise ValueError("a compact token signs one or more non-negative numbers")
    message = "-".join([*(str(n) for n in numbers), _base36(int(clock.now().timestamp()))])
    return f"{message}-{_compact_mac(purpose, message)}"


def is_compact_token(token: str) -> bool:
    """Tell whether `token` has the compact form (it may still be forged or expired)."""
    return _COMPACT.match(token) is not None


def read_compact_token(
    purpose: str, token: str, *, max_age_seconds: int | None = None
) -> tuple[int, ...]:
    """Return the numbers a compact token for `purpose` signs, or raise InvalidToken."""
    found = _COMPACT.match(token)
    if found is None:
        raise InvalidToken(N_("This link is not valid."))
    numbers, stamp, mac = found.groups()
    message = f"{numbers}-{stamp}"
    if not hmac.compare_digest(mac, _compact_mac(purpose, message)):
        raise InvalidToken(N_("This link is not valid."))
    age = int(clock.now().timestamp()) - int(stamp, 36)
    if max_age_seconds is not None and age > max_age_seconds:
        raise InvalidToken(N_("This link has expired."), expired=True)
    return tuple(int(n) for n in numbers.split("-"))


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out
