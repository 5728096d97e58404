"""What the signup form and API accept, validated before anything is written."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nurture.core import languages
from nurture.core.config import get_settings
from nurture.core.names import clean_first_name as clean_first_name
from nurture.core.names import unusual as unusual
from nurture.core.names import without_unusual as without_unusual
from nurture.core.translations import gettext
from nurture.leads.models import NumbnessType

_ZONES = frozenset(available_timezones())
# Local parts that reach a team or a machine rather than one person.
ROLE_LOCAL_PARTS = frozenset(
    "abuse admin administrator billing contact help hostmaster info mail marketing no-reply "
    "noreply office postmaster sales security support team webmaster".split()
)


def normalise_email(value: str) -> str:
    """Validate an address's syntax and return it trimmed and lower-cased."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return result.normalized.lower()


def refuse_nul(value: object) -> object:
    """Refuse a string holding a NUL character (PostgreSQL cannot store one in text)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    return value


class InputModel(BaseModel):
    """Base of every body the web accepts: strings are trimmed and never hold NUL."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


def check_timezone(value: str) -> str:
    """Return `value` if it names an IANA time zone."""
    if value not in _ZONES:
        raise ValueError(
            f"unknown time zone {value!r}; name a region and a city, such as Europe/Berlin"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def check_language(value: str | None) -> str | None:
    """Return the offered language nearest to `value` (None stays None); ValueError if none."""
    if value is None or not value.strip():
        return None
    return languages.choose(value)


class SubscribeRequest(InputModel):
    """A signup from the landing page or a clinic's own site."""

    email: str = Field(max_length=254, description="The lead's email address.")
    first_name: str = Field(min_length=1, max_length=100, description="How emails greet them.")
    numbness_type: NumbnessType = Field(description="acute, chronic, intermittent or unsure.")
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA time zone; the clinic's when omitted."
    )
    location: str | None = Field(
        default=None,
        max_length=200,
        description="The clinic location they prefer, by key or name (any case); with several "
        "locations a value that names none is refused.",
    )
    language: str | None = Field(
        default=None,
        max_length=35,
        description="The language they read, as a BCP 47 tag (es, es-MX); matched to the nearest "
        "of the clinic's languages, the clinic's default when it offers none near. Omitted: "
        "the clinic's default for a new lead, unchanged for a known one.",
    )
    consent: Literal[True] = Field(description="Must be true: the lead agrees to receive emails.")
    website: str | None = Field(
        default=None, max_length=300, description="Leave empty: a trap for bots."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        address = normalise_email(value)
        local, _, domain = address.rpartition("@")
        settings = get_settings()
        if settings.refuse_role_addresses and local in ROLE_LOCAL_PARTS:
            raise ValueError(
                gettext(
                    "%(local)s@ addresses usually reach a shared inbox; please use your own address"
                )
                % {"local": local}
            )
        if settings.refuse_disposable_addresses and domain in DISPOSABLE_DOMAINS:
            raise ValueError(
                gettext("this looks like a temporary address; please use one you will keep reading")
            )
        return address

    @field_validator("first_name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = clean_first_name(value)
        if not name:
            raise ValueError("must not be empty")
        return name

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return check_language(value)

    @field_validator("consent", mode="before")
    @classmethod
    def _consent(cls, value: object) -> object:
        # Lax mode would take 1 or "true" for Literal[True]; agreement must be the JSON true.
        if value is not True:
            raise ValueError("consent must be true: tick the box to agree to receive emails")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        return check_timezone(value)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        return preferred_location(value)


def preferred_location(value: str | None) -> str | None:
    """Return the key of the location `value` names, None for none; ValueError if unknown."""
    from nurture.locations import service as locations

    if value is None or not value.strip():
        return None
    site = locations.match(value)
    if site is not None:
        return site.key
    if locations.several():
        raise ValueError(
            f"no location is called {value!r}; use one of: {', '.join(locations.keys())}"
        )
    return None


class SubscribeAccepted(BaseModel):
    """The one answer every valid signup gets, whether or not the address is known."""

    status: Literal["pending_confirmation"] = "pending_confirmation"
    message: str = "Thanks! Check your inbox for a link to confirm your email address."
