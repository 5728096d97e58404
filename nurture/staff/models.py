"""Staff accounts for the studio."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime


class StaffUser(Base):
    """A member of clinic staff who signs in to the studio."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="editor")
    # The sites whose people and visits this account may see; None: every site.
    location_keys: Mapped[list[str] | None] = mapped_column(JSON)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised to end every session of this person at once (password change, disabling).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class StaffSession(Base):
    """One signed-in browser; deleting the row signs it out, whoever holds a copy of the cookie."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # SHA-256 of the random id the cookie carries, so the table alone signs no one in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    # The account's session_epoch at sign-in; raising the epoch ends this session too.
    epoch: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    """A credential for the clinic's systems (booking sync); only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One change made in the studio or by a staff command: who, what, when, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    # Kept as written so the trail survives the account being removed.
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
