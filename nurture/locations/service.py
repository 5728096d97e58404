"""The clinic's sites as every email, page and calendar file sees them.

A site stores only what differs from the clinic: an empty field means the clinic's value
(`nurture.clinic.service.effective()`). An install with no stored site has one, `main`, which
is the clinic itself; that is how a one-site install runs exactly as before sites existed.
Rows are read at most once per CACHE_SECONDS in each process; a change made here calls
`invalidate()`, so the process that made it sees it at once and the others within seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nurture.clinic import service as clinic
from nurture.core.config import Settings, get_settings
from nurture.locations.models import EDITABLE, Location

log = logging.getLogger(__name__)

CACHE_SECONDS = 15.0
MAIN = "main"


class UnknownLocation(ValueError):
    """A location value that names no site of a clinic with several."""

    def __init__(self, value: str, keys: list[str]) -> None:
        self.value = value
        self.keys = keys
        super().__init__(f"no location is called {value!r}; use one of: {', '.join(keys)}")


@dataclass(frozen=True)
class Site:
    """One site of the clinic, every empty field filled in from the clinic's details."""

    key: str
    name: str
    address: str
    phone: str
    timezone: str
    opening_hours: str
    closures: tuple[date, ...]
    booking_url: str
    review_url: str
    map_url: str
    marketing_from_name: str
    transactional_from_name: str
    logo_url: str
    accent_color: str
    calcom_event_types: tuple[str, ...] = ()
    calcom_places: tuple[str, ...] = ()

    @property
    def phone_link(self) -> str:
        """A tel: link that dials the site."""
        return "tel:" + "".join(c for c in self.phone if c.isdigit() or c == "+")

    def context(self) -> dict[str, Any]:
        """Return what a template may read about the site (`location.*`)."""
        return {
            "key": self.key,
            "name": self.name,
            "address": self.address,
            "phone": self.phone,
            "phone_link": self.phone_link,
            "map_url": self.map_url,
            "opening_hours": self.opening_hours,
            "booking_url": self.booking_url,
            "review_url": self.review_url,
            "logo_url": self.logo_url,
            "accent_color": self.accent_color,
        }


def map_link(address: str) -> str:
    """Return a map search link for a postal address."""
    return "https://www.google.com/maps/search/?api=1&query=" + quote(address, safe="")


def site_of(stored: dict[str, Any], c: clinic.ClinicDetails, settings: Settings) -> Site:
    """Fill the empty fields of one stored site from the clinic's details."""

    def pick(field: str, fallback: str) -> str:
        value = stored.get(field) or ""
        return str(value) if value else fallback

    address = pick("address", c.clinic_address)
    closures = stored.get("closures") or []
    return Site(
        key=stored["key"],
        name=pick("name", c.clinic_name),
        address=address,
        phone=pick("phone", c.clinic_phone),
        timezone=pick("timezone", settings.clinic_timezone),
        opening_hours=pick("opening_hours", c.opening_hours),
        closures=tuple(date.fromisoformat(d) for d in closures) or c.clinic_closures,
        booking_url=pick("booking_url", c.booking_url),
        review_url=pick("review_url", c.review_url),
        map_url=pick("map_url", map_link(address)),
        marketing_from_name=pick("marketing_from_name", c.marketing_from_name),
        transactional_from_name=pick("transactional_from_name", c.transactional_from_name),
        logo_url=pick("logo_url", c.clinic_logo_url),
        accent_color=pick("accent_color", c.accent_color),
        calcom_event_types=tuple(stored.get("calcom_event_types") or ()),
        calcom_places=tuple(stored.get("calcom_places") or ()),
    )


def stored_rows(session: Session) -> list[dict[str, Any]]:
    """Return every stored site as plain values, `main` first, then by when it was added."""
    rows = session.scalars(select(Location).order_by(Location.created_at, Location.key)).all()
    values = [{"key": r.key, **r.as_dict()} for r in rows]
    return sorted(values, key=lambda v: v["key"] != MAIN)


_lock = threading.Lock()
_cache: tuple[Settings, float, list[dict[str, Any]]] | None = None


def invalidate() -> None:
    """Forget the cached sites, so this process reads the database on its next lookup."""
    global _cache
    with _lock:
        _cache = None


def _stored() -> list[dict[str, Any]]:
    global _cache
    settings = get_settings()
    with _lock:
        cached = _cache
    if cached is not None and cached[0] is settings and cached[1] > time.monotonic():
        return cached[2]
    from nurture.core.db import session_factory

    try:
        with session_factory()() as session:
            rows = stored_rows(session)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warning("locations unreadable (%s); using the clinic's details", reason)
        rows = []
    with _lock:
        _cache = (settings, time.monotonic() + CACHE_SECONDS, rows)
    return rows


# The sites built from the last (stored rows, clinic details, settings) seen: every email asks
# for its site several times, and building one is most of a lookup's cost.
_built: tuple[object, object, object, tuple[Site, ...]] | None = None


def sites() -> list[Site]:
    """Return every site, the default first; an install with none stored has `main`."""
    global _built
    c = clinic.effective()
    settings = get_settings()
    stored = _stored()
    built = _built
    if built is None or built[0] is not stored or built[1] is not c or built[2] is not settings:
        made = tuple(site_of(row, c, settings) for row in stored or [{"key": MAIN}])
        built = _built = (stored, c, settings, made)
    return list(built[3])


def several() -> bool:
    """Say whether the install has more than one site (and so must be told which)."""
    return len(_stored()) > 1


def default() -> Site:
    """Return the site used when none is named: `main`, else the first added."""
    return sites()[0]


def site(key: str | None) -> Site:
    """Return the site `key` names, or the default one (no key, or a site since removed)."""
    for candidate in sites():
        if candidate.key == key:
            return candidate
    return default()


def match(value: str) -> Site | None:
    """Return the site whose key or name is `value` (case-insensitive), if any."""
    wanted = value.strip().casefold()
    if not wanted:
        return None
    for candidate in sites():
        if wanted in (candidate.key.casefold(), candidate.name.casefold()):
            return candidate
    return None


def keys() -> list[str]:
    """Return every site's key, the default first."""
    return [s.key for s in sites()]


def place_of_visit(value: str) -> tuple[str | None, str]:
    """Return (site key, place description) for the `location` a visit arrives with.

    A key or name picks that site. With several sites anything else raises UnknownLocation;
    with one it is kept as the place description, as it was before sites existed.
    """
    found = match(value)
    if found is not None:
        return found.key, ""
    if not value.strip():
        return None, ""
    if several():
        raise UnknownLocation(value, keys())
    return None, value


def split_place(value: str) -> tuple[str | None, str]:
    """Like place_of_visit, but an unknown value (checked at the door) stays a place text."""
    try:
        return place_of_visit(value)
    except UnknownLocation:
        return None, value


def calcom_site(event_type: str | None, place: str) -> Site | None:
    """Return the site a Cal.com booking maps to: by event type, then by its place text."""
    wanted = place.strip().casefold()
    for candidate in sites():
        if event_type and event_type in candidate.calcom_event_types:
            return candidate
    for candidate in sites():
        if wanted and wanted in (p.casefold() for p in candidate.calcom_places):
            return candidate
    return match(place)


def usage(session: Session, key: str | None) -> tuple[int, int]:
    """Return how many visits and leads name the site `key` (None: name no site)."""
    from nurture.appointments.models import Appointment
    from nurture.leads.models import Lead

    visits = session.scalar(select(func.count()).where(Appointment.location_key == key)) or 0
    leads = session.scalar(select(func.count()).where(Lead.location_key == key)) or 0
    return visits, leads


def editable_values(row: Location) -> dict[str, Any]:
    """Return a stored site's editable fields."""
    return {f: getattr(row, f) for f in EDITABLE}
