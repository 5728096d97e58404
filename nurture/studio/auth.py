"""Staff accounts: argon2 password hashes, sign-in with lockout, server-side sessions, roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nurture.core.config import get_settings
from nurture.leads.schemas import normalise_email
from nurture.staff.models import StaffSession, StaffUser

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the address is unknown, so a wrong address costs as long as a wrong
# password and the answer time does not tell which addresses have accounts.
_DUMMY_HASH = _hasher.hash("no such account")


class Role(StrEnum):
    """Editors work on sequences, leads and the outbox; admins also manage staff and data."""

    EDITOR = "editor"
    ADMIN = "admin"


class StaffError(ValueError):
    """A staff account cannot be created or changed as asked."""


@dataclass(frozen=True, slots=True)
class SignIn:
    """How a sign-in attempt went; `staff` is set only on success."""

    staff: StaffUser | None
    message: str = ""


def check_password(password: str) -> str:
    """Refuse passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


def create_staff(
    session: Session, *, email: str, password: str, role: str, now: datetime
) -> StaffUser:
    """Create a staff account; the address must be new."""
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise StaffError(str(exc)) from exc
    if role not in set(Role):
        raise StaffError(f"role must be one of: {', '.join(Role)}")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise StaffError(f"a staff account for {address} exists already")
    staff = StaffUser(
        email=address,
        password_hash=_hasher.hash(check_password(password)),
        role=role,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    return staff


def set_password(staff: StaffUser, password: str) -> None:
    """Change a password and end the person's other sessions."""
    staff.password_hash = _hasher.hash(check_password(password))
    staff.session_epoch += 1


def refused_message() -> str:
    """The one answer to an unknown address, a wrong password and a locked account alike."""
    s = get_settings()
    return (
        "That email and password do not match an account. After "
        f"{s.studio_lockout_failures} wrong passwords an account is locked for "
        f"{s.studio_lockout_minutes} minutes; an admin can unlock it sooner."
    )


def sign_in(session: Session, *, email: str, password: str, now: datetime) -> SignIn:
    """Check a password, counting failures and locking the account after too many."""
    s = get_settings()
    # Unknown, locked and wrong get the same words after the same argon2 work, so neither the
    # answer nor its timing tells a guesser which addresses have accounts or which are locked.
    refused = SignIn(None, refused_message())
    try:
        address = normalise_email(email)
    except ValueError:
        address = email.strip().lower()
    staff = session.scalar(select(StaffUser).where(StaffUser.email == address).with_for_update())
    if staff is None:
        _verify(_DUMMY_HASH, password)
        return refused
    correct = _verify(staff.password_hash, password)
    if staff.locked_until is not None and staff.locked_until > now:
        return refused
    if not correct:
        staff.failed_logins += 1
        if staff.failed_logins >= s.studio_lockout_failures:
            staff.locked_until = now + timedelta(minutes=s.studio_lockout_minutes)
            staff.failed_logins = 0
        return refused
    if staff.disabled_at is not None:
        return SignIn(None, "This account has been disabled. Ask an admin.")
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return SignIn(staff)


def start_session(session: Session, *, staff: StaffUser, now: datetime) -> str:
    """Record a new session for `staff` and return the random id its cookie carries."""
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_digest(token),
            staff_id=staff.id,
            epoch=staff.session_epoch,
            created_at=now,
            expires_at=now + timedelta(hours=get_settings().studio_session_hours),
        )
    )
    session.flush()
    return token


def session_staff(session: Session, *, token: str, now: datetime) -> StaffUser | None:
    """Return whom a live session belongs to, or None once it has ended or expired."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _digest(token)))
    if row is None or row.expires_at <= now:
        return None
    staff = session.get(StaffUser, row.staff_id)
    if staff is None or staff.disabled_at is not None or staff.session_epoch != row.epoch:
        return None
    return staff


def end_session(session: Session, *, token: str) -> None:
    """Forget a session on the server, so no copy of its cookie signs anyone in again."""
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def _digest(token: str) -> str:
    # Session ids are 256-bit random values, so a plain SHA-256 is as strong as a slow hash here.
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
