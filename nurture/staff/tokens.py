"""API tokens for the clinic's systems: created once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.staff.models import ApiToken

PREFIX = "nrt_"


def _digest(token: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 is as strong as a slow hash here.
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str, now: datetime) -> str:
    """Create a token called `name` and return it; it is never shown again."""
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError("a token name must not contain control or invisible characters")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise ValueError(f"a token called {name!r} exists; revoke it or pick another name")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_digest(token), created_at=now))
    session.flush()
    return token


def revoke(session: Session, *, name: str, now: datetime) -> None:
    """Stop a token from working."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise LookupError(f"no token called {name!r}")
    row.revoked_at = row.revoked_at or now


def authenticate(session: Session, *, token: str, now: datetime) -> ApiToken | None:
    """Return the live token row matching `token`, or None."""
    if not token.startswith(PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = now
    return row
