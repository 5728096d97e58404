"""What the appointments API and the Cal.com webhook accept."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nurture.core.dates import Moment
from nurture.leads.schemas import (
    InputModel,
    check_language,
    check_timezone,
    clean_first_name,
    normalise_email,
)


class AppointmentIn(InputModel):
    """A booking from the clinic's systems."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    first_name: str = Field(default="", max_length=100)
    starts_at: Moment = Field(description="Start, with its UTC offset.")
    timezone: str = Field(max_length=64, description="The patient's IANA time zone.")
    duration_minutes: int = Field(default=30, ge=5, le=480)
    location: str = Field(
        default="",
        max_length=300,
        description="The clinic's location, by its key or exact name (any case). With one "
        "location, other text is kept as the place description.",
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(
        default=None,
        max_length=40,
        description="The patient's mobile number; national numbers are read in the clinic's "
        "country. Stored in E.164.",
    )
    sms_consent: bool = Field(
        default=False,
        description="The patient agreed to text messages about their visits at `phone`.",
    )
    language: str | None = Field(
        default=None,
        max_length=35,
        description="The language a new patient reads (BCP 47: es, es-MX), matched to the "
        "nearest of the clinic's languages; a known patient keeps theirs.",
    )
    status: Literal["booked", "attended", "no_show"] = Field(
        default="booked",
        description="booked (default), or the outcome of a visit that has begun: attended or "
        "no_show. A new visit with an outcome starts that outcome's journeys if it began within "
        "NURTURE_JOURNEY_LOOKBACK_DAYS.",
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from nurture.core.config import get_settings
        from nurture.core.phones import to_e164

        return to_e164(value, country=get_settings().clinic_country)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return check_location(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return check_language(value)

    @field_validator("first_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_first_name(value)


class AppointmentPatch(InputModel):
    """A change to a booking: a new time or place, or an outcome."""

    model_config = ConfigDict(extra="forbid")

    starts_at: Moment | None = None
    timezone: str | None = Field(default=None, max_length=64)
    duration_minutes: int | None = Field(default=None, ge=5, le=480)
    location: str | None = Field(default=None, max_length=300)
    status: Literal["attended", "no_show"] | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        return None if value is None else check_location(value)


def check_location(value: str) -> str:
    """Return `value` if it names a location, or is a place text an install with one takes."""
    from nurture.locations import service as locations

    locations.place_of_visit(value)
    return value


class ReminderOut(BaseModel):
    """One planned message of an appointment (an email or a text)."""

    name: str
    channel: str = "email"
    due_at: datetime
    status: str


class AppointmentOut(BaseModel):
    """An appointment as the API reports it."""

    id: int
    external_id: str | None
    status: str
    starts_at: datetime
    timezone: str
    revision: int
    location: str | None = Field(
        default=None, description="The key of the clinic's location the visit is at."
    )
    phone: str | None = None
    attendance: str = Field(
        description="What the patient said: confirmed, not confirmed or asked to change."
    )
    confirmed_at: datetime | None = Field(description="When the patient said they will come.")
    change_requested_at: datetime | None = Field(
        description="When the patient said they need another time."
    )
    reminders: list[ReminderOut]
