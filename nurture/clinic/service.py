"""The effective clinic details: NURTURE_* defaults with the studio's overrides on top.

Every email, page and calendar file asks `effective()`; it reads the overrides from the
database at most once per CACHE_SECONDS in each process, so a change made in the studio reaches
the worker without a restart, and the web process that saved it calls `invalidate()` at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import phonenumbers
from babel import Locale
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nurture.clinic.models import ClinicSetting
from nurture.core import dates
from nurture.core.colours import check_accent
from nurture.core.config import Settings, get_settings
from nurture.core.names import clean_first_name
from nurture.core.web_address import has_web_host

log = logging.getLogger(__name__)

CACHE_SECONDS = 15.0

Kind = Literal["line", "text", "phone", "dates", "url", "colour", "name", "question"]


@dataclass(frozen=True)
class Field:
    """One clinic detail admins may edit, named as its NURTURE_* setting."""

    name: str
    label: str
    kind: Kind
    required: bool = False
    max_length: int = 200


FIELDS: tuple[Field, ...] = (
    Field("clinic_name", "Clinic name", "line", required=True),
    Field("clinic_address", "Postal address", "line", required=True, max_length=300),
    Field("clinic_phone", "Phone", "phone", required=True, max_length=40),
    Field("opening_hours", "Opening hours", "text", max_length=1000),
    Field("clinic_closures", "Closed on (dates, YYYY-MM-DD)", "dates", max_length=4000),
    Field("booking_url", "Booking page", "url", required=True, max_length=500),
    Field("review_url", "Review page", "url", max_length=500),
    Field("clinic_logo_url", "Logo image", "url", max_length=500),
    Field(
        "accent_color", "Accent colour (buttons and links)", "colour", required=True, max_length=7
    ),
    Field("marketing_from_name", "Sender name of newsletters", "name", required=True),
    Field("transactional_from_name", "Sender name of appointment emails", "name", required=True),
    Field("clinician_name", "Clinician who signs education emails", "name", max_length=100),
    Field("clinician_credentials", "Clinician's credentials", "name", max_length=100),
    Field(
        "calcom_sms_consent_question",
        "Cal.com booking form: the name of the tick box where patients agree to texts",
        "question",
        max_length=100,
    ),
)
BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class ClinicDetails:
    """The clinic as patients see it right now."""

    clinic_name: str
    clinic_address: str
    clinic_phone: str
    opening_hours: str
    clinic_closures: tuple[date, ...]
    booking_url: str
    review_url: str
    clinic_logo_url: str
    accent_color: str
    marketing_from_name: str
    transactional_from_name: str
    clinician_name: str
    clinician_credentials: str
    calcom_sms_consent_question: str
    overridden: frozenset[str] = frozenset()

    @property
    def phone_link(self) -> str:
        """A tel: link that dials the clinic's phone."""
        return "tel:" + "".join(c for c in self.clinic_phone if c.isdigit() or c == "+")

    @property
    def clinician(self) -> str:
        """The signature line; credentials alone sign nothing, the line needs a name."""
        if not self.clinician_name.strip():
            return ""
        parts = (self.clinician_name, self.clinician_credentials)
        return ", ".join(p for p in parts if p.strip())


def defaults(settings: Settings | None = None) -> dict[str, Any]:
    """Return the environment's value of every editable field, as stored in JSON."""
    s = settings or get_settings()
    values: dict[str, Any] = {f.name: getattr(s, f.name) for f in FIELDS}
    values["clinic_closures"] = [d.isoformat() for d in s.clinic_closures]
    for sender in _following_senders(s):
        values[sender] = s.clinic_name
    return values


def _following_senders(settings: Settings) -> list[str]:
    """Name the sender names the environment leaves to follow the clinic's name."""
    return [
        sender
        for sender in ("marketing_from_name", "transactional_from_name")
        if sender not in settings.model_fields_set
        or getattr(settings, sender) == settings.clinic_name
    ]


def overrides(session: Session) -> dict[str, Any]:
    """Return the fields admins have set in the studio, by name."""
    rows = session.scalars(select(ClinicSetting).where(ClinicSetting.key.in_(BY_NAME)))
    return {row.key: row.value for row in rows}


def details(stored: Mapping[str, Any], settings: Settings | None = None) -> ClinicDetails:
    """Combine the environment's values with `stored` overrides.

    A sender name nobody chose (not set in the environment, or set to the clinic's name there)
    follows the clinic's name as it is now, so renaming the clinic renames the sender too.
    """
    s = settings or get_settings()
    values = {**defaults(s), **stored}
    for sender in _following_senders(s):
        if sender not in stored:
            values[sender] = values["clinic_name"]
    values["clinic_closures"] = tuple(date.fromisoformat(d) for d in values["clinic_closures"])
    return ClinicDetails(**values, overridden=frozenset(stored))


_lock = threading.Lock()
_cache: tuple[Settings, float, ClinicDetails] | None = None


def invalidate() -> None:
    """Forget the cached details, so this process reads the database on its next lookup."""
    global _cache
    with _lock:
        _cache = None


def effective() -> ClinicDetails:
    """Return the clinic details every email, page and calendar file must use."""
    global _cache
    settings = get_settings()
    with _lock:
        cached = _cache
    # A reloaded Settings (new environment, or a test) makes the cached details stale at once.
    if cached is not None and cached[0] is settings and cached[1] > time.monotonic():
        return cached[2]
    from nurture.core.db import session_factory

    try:
        with session_factory()() as session:
            stored = overrides(session)
    except SQLAlchemyError as exc:
        # No database or no table yet (before `nurture db upgrade`): the environment's values
        # still make a correct email; the next lookup after the TTL tries again.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warning("clinic settings unreadable (%s); using the NURTURE_* values", reason)
        stored = {}
    result = details(stored, settings)
    with _lock:
        _cache = (settings, time.monotonic() + CACHE_SECONDS, result)
    return result


def _region(settings: Settings) -> str | None:
    return Locale.parse(settings.clinic_locale).territory


def _clean(spec: Field, raw: str, settings: Settings) -> Any:
    """Return the stored form of one submitted field, or raise ValueError saying why."""
    if "\x00" in raw:
        raise ValueError("must not contain NUL characters")
    value = raw.strip()
    if len(value) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters")
    if spec.kind == "dates":
        parts = [p.strip() for p in value.replace("\n", ",").split(",") if p.strip()]
        days: set[date] = set()
        for part in parts:
            try:
                day = date.fromisoformat(part)
            except ValueError:
                raise ValueError(f"{part!r} is not a date written YYYY-MM-DD") from None
            days.add(dates.check_day(day))
        return [d.isoformat() for d in sorted(days)]
    if not value:
        if spec.required:
            raise ValueError("must not be empty")
        return ""
    if spec.kind == "text":
        return "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").split("\n"))
    if spec.kind in ("line", "name"):
        return clean_first_name(value, max_length=spec.max_length)
    if spec.kind == "url":
        if not has_web_host(value):
            raise ValueError(
                "must be a web address starting https://, such as https://clinic.example"
            )
        return value
    if spec.kind == "colour":
        return check_accent(value)
    if spec.kind == "question":
        # Cal.com names a question with letters, digits, hyphens and underscores.
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in value):
            raise ValueError(
                "must be the question's name as Cal.com shows it under the question "
                "(letters, digits, - and _ only, such as sms_consent)"
            )
        return value
    # phone
    try:
        number = phonenumbers.parse(value, _region(settings))
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number (add the country code, e.g. +1)")
    return value


def clean(spec: Field, raw: str) -> Any:
    """Return the stored form of one submitted field, or raise ValueError saying why."""
    return _clean(spec, raw, get_settings())


def parse_form(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate the submitted fields; return the values and an error message per bad field."""
    settings = get_settings()
    env = defaults(settings)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in FIELDS:
        if spec.name not in form:
            continue
        raw = form[spec.name]
        try:
            values[spec.name] = _clean(spec, raw, settings)
        except ValueError as exc:
            # The environment's own value is accepted as is: it is what runs today.
            if raw.strip() == as_text(spec, env[spec.name]):
                values[spec.name] = env[spec.name]
            else:
                errors[spec.name] = f"{spec.label} {exc}."
    return values, errors


def as_text(spec: Field, value: Any) -> str:
    """Return a stored value as the form shows it."""
    if spec.kind == "dates":
        return "\n".join(value)
    return str(value)


def save(
    session: Session, values: Mapping[str, Any], *, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Store `values` as overrides (a value equal to the environment's clears the override).

    Return the effective values before and after, for the changed fields only. The caller
    commits, with its audit entry, and then calls `invalidate()`.
    """
    env = defaults()
    stored = overrides(session)
    # A sender name that follows the clinic's name is no override when it equals that name,
    # nor when the form sends the name it followed until now along with a new clinic name.
    name_before = stored.get("clinic_name", env["clinic_name"])
    name_now = values.get("clinic_name", name_before)
    values = dict(values)
    for sender in _following_senders(get_settings()):
        env[sender] = name_now
        if sender not in stored and values.get(sender) == name_before:
            values[sender] = name_now
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        old = stored.get(name, env[name])
        if value == old and (name in stored) == (value != env[name]):
            continue
        row = session.get(ClinicSetting, name)
        if value == env[name]:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(ClinicSetting(key=name, value=value, updated_at=now))
        else:
            row.value = value
            row.updated_at = now
        if value != old:
            before[name] = old
            after[name] = value
    return before, after


def reset(session: Session, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Remove the overrides of `names`, so the environment's values apply again."""
    env = defaults()
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in names:
        row = session.get(ClinicSetting, name) if name in BY_NAME else None
        if row is not None:
            before[name] = row.value
            after[name] = env[name]
            session.delete(row)
    return before, after
