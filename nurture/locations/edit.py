"""Add, change and remove sites; every value is checked as the clinic's own details are."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from nurture.clinic import service as clinic
from nurture.clinic.service import Field
from nurture.leads.schemas import check_timezone
from nurture.locations import service
from nurture.locations.models import Location

KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")

# The clinic's field that each site field falls back to, and how it is checked.
FIELDS: dict[str, Field] = {
    "name": Field("name", "Name", "line"),
    "address": Field("address", "Address", "line", max_length=300),
    "phone": Field("phone", "Phone", "phone", max_length=40),
    "opening_hours": Field("opening_hours", "Opening hours", "text", max_length=1000),
    "closures": Field("closures", "Closed on (dates, YYYY-MM-DD)", "dates", max_length=4000),
    "booking_url": Field("booking_url", "Booking page", "url", max_length=500),
    "review_url": Field("review_url", "Review page", "url", max_length=500),
    "map_url": Field("map_url", "Map link", "url", max_length=500),
    "logo_url": Field("logo_url", "Logo image", "url", max_length=500),
    "accent_color": Field("accent_color", "Accent colour", "colour", max_length=7),
    "marketing_from_name": Field("marketing_from_name", "Sender name of newsletters", "name"),
    "transactional_from_name": Field(
        "transactional_from_name", "Sender name of appointment emails", "name"
    ),
}
LISTS = {
    "calcom_event_types": "Cal.com event types",
    "calcom_places": "Cal.com locations",
}
TIMEZONE_LABEL = "Time zone"


@cache
def zone_choices() -> list[tuple[str, str]]:
    """Return (zone, label) pairs to pick a time zone by its city, e.g. 'New York (America)'."""
    choices = []
    for zone in available_timezones():
        region, _, city = zone.partition("/")
        if not city or region in ("Etc", "SystemV", "US", "Canada", "Brazil", "Mexico", "Chile"):
            continue
        place = city.replace("_", " ").replace("/", ", ")
        choices.append((zone, f"{place} ({region})"))
    return sorted(choices, key=lambda c: c[1])


def parse(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the submitted fields; return the values and a message per bad field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in FIELDS.items():
        if name not in form:
            continue
        try:
            values[name] = clinic.clean(spec, form[name])
        except ValueError as exc:
            errors[name] = f"{spec.label} {exc}."
    if "timezone" in form:
        zone = form["timezone"].strip()
        try:
            values["timezone"] = check_timezone(zone) if zone else ""
        except ValueError:
            errors["timezone"] = "Time zone: pick a city from the list."
    for name, label in LISTS.items():
        if name in form:
            lines = [p.strip() for p in form[name].replace(",", "\n").splitlines() if p.strip()]
            if any(len(p) > 200 for p in lines) or len(lines) > 50:
                errors[name] = f"{label}: at most 50 entries of 200 characters."
            values[name] = lines
    return values, errors


def check_key(key: str) -> str:
    """Return `key` if it is fit for links (?location=south), else raise ValueError."""
    if not KEY.fullmatch(key):
        raise ValueError(
            "the short name may use lower-case letters, digits and hyphens (at most 40), "
            "starting with a letter or digit"
        )
    return key


def add(session: Session, key: str, values: Mapping[str, Any], *, now: datetime) -> Location:
    """Store a new site; the caller commits (with its audit entry) and calls invalidate()."""
    check_key(key)
    if session.get(Location, key) is not None:
        raise ValueError(f"there is already a location {key!r}")
    if not str(values.get("name", "")).strip() and key != service.MAIN:
        raise ValueError("Name must not be empty.")
    row = Location(key=key, created_at=now, updated_at=now)
    for name, value in values.items():
        setattr(row, name, value)
    if session.get(Location, service.MAIN) is None and key != service.MAIN:
        # The first site added next to the clinic: the clinic itself becomes `main`, so its
        # visits and leads keep their site.
        session.add(Location(key=service.MAIN, created_at=now, updated_at=now))
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, row: Location, values: Mapping[str, Any], *, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply `values` to a site; return the changed fields' values before and after."""
    if "name" in values and not str(values["name"]).strip() and row.key != service.MAIN:
        raise ValueError("Name must not be empty.")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        if getattr(row, name) != value:
            before[name] = getattr(row, name)
            after[name] = value
            setattr(row, name, value)
    if after:
        row.updated_at = now
    return before, after


def remove(session: Session, key: str) -> Location:
    """Delete a site nothing uses; raise ValueError saying what still uses it."""
    row = session.get(Location, key)
    if row is None:
        raise ValueError(f"there is no location {key!r}")
    if key == service.MAIN:
        # Visits and leads that name no site belong to `main`, and so does any added later
        # without one: it stays, and can be renamed to read as a site of its own.
        raise ValueError(
            f"{service.MAIN!r} is the default location and stays; give it another name instead"
        )
    visits, leads = service.usage(session, key)
    if visits or leads:
        raise ValueError(
            f"location {key!r} is still used by {visits} visit(s) and {leads} lead(s); "
            "move them to another location first"
        )
    session.delete(row)
    session.flush()
    return row
