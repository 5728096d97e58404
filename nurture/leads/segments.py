"""Segments: a saved description of a set of leads, shared by broadcasts and the people pages.

A segment is plain data (`Segment`); `lead_ids` turns it into a composable SELECT of lead ids,
`parse_segment` reads it from a form or query string, `describe` says it in words, and
`segment_to_json` / `segment_from_json` store it (a broadcast keeps its segment as JSON).

What each field means, precisely:

- `numbness_types`, `statuses`: the lead's current value is one of these (empty: any).
- `booked`: True keeps leads with at least one visit that is not cancelled (booked, attended
  or no-show, past or future); False keeps leads with none (never booked, or every visit
  cancelled).
- `last_visit_before`: keeps leads who have attended at least one visit and whose latest
  attended visit started before the start of that date in the clinic's zone ("lapsed
  patients"). Leads who never attended are not included; visits that were only booked,
  cancelled or missed do not count as a visit here.
- `signed_up_from` / `signed_up_to`: the lead's signup time falls on or after the start of
  `from`, and before the end of `to`, both days in the clinic's zone (inclusive).
- `sequence_slug`: the lead is actively enrolled in that sequence right now.
- `search`: the email or first name contains the text, ignoring case.
- `language`: the lead reads this language (one of NURTURE_LANGUAGES).

Form fields read by `parse_segment` (repeated fields may also be given as a list):
`numbness_type` (repeatable), `status` (repeatable), `booked` ("yes", "no" or blank),
`last_visit_before`, `signed_up_from`, `signed_up_to` (YYYY-MM-DD), `sequence` (a slug) and
`q` (search text) and `language` (a language tag).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.core import dates, languages
from nurture.core.config import get_settings
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import Lead, LeadStatus, LeadTag, NumbnessType
from nurture.locations import scope
from nurture.locations import service as locations
from nurture.sequences.models import Sequence

SEARCH_MAX = 200
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,39}$")


def clean_tag(raw: str) -> str:
    """Return a tag as stored (trimmed, lower case, single spaces), or raise ValueError."""
    tag = " ".join(raw.split()).lower()
    if not _TAG.match(tag):
        raise ValueError(
            "use up to 40 letters, digits, spaces, dashes or underscores, starting with a "
            "letter or digit"
        )
    return tag


# Words for the values staff pick from; the stored values stay as they are.
TYPE_WORDS = {
    NumbnessType.ACUTE: "acute",
    NumbnessType.CHRONIC: "chronic",
    NumbnessType.INTERMITTENT: "intermittent",
    NumbnessType.UNSURE: "unsure",
}
STATUS_WORDS = {
    LeadStatus.ACTIVE: "subscribed",
    LeadStatus.PENDING: "not yet confirmed",
    LeadStatus.UNSUBSCRIBED: "unsubscribed",
    LeadStatus.NO_CONSENT: "no marketing consent",
}


@dataclass(frozen=True)
class Segment:
    """Which leads to pick; every field left empty matches everyone."""

    numbness_types: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    booked: bool | None = None
    last_visit_before: date | None = None
    signed_up_from: date | None = None
    signed_up_to: date | None = None
    sequence_slug: str | None = None
    search: str = ""
    tag: str | None = None
    # Sites (nurture.locations keys): the lead prefers one, or has a visit at one.
    locations: frozenset[str] = frozenset()
    language: str | None = None

    @property
    def is_everyone(self) -> bool:
        """Return whether the segment matches every lead."""
        return self == Segment()


def _zone(zone: ZoneInfo | None) -> ZoneInfo:
    return zone or ZoneInfo(get_settings().clinic_timezone)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Return the moment `day` begins in `zone`."""
    return datetime.combine(day, time.min, tzinfo=zone)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(segment: Segment, *, zone: ZoneInfo | None = None) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions on `Lead` that the segment stands for."""
    tz = _zone(zone)
    where: list[ColumnElement[bool]] = []
    if segment.numbness_types:
        where.append(Lead.numbness_type.in_(sorted(segment.numbness_types)))
    if segment.statuses:
        where.append(Lead.status.in_(sorted(segment.statuses)))
    if segment.booked is not None:
        has_visit = exists().where(
            Appointment.lead_id == Lead.id, Appointment.status != AppointmentStatus.CANCELLED
        )
        where.append(has_visit if segment.booked else ~has_visit)
    if segment.last_visit_before is not None:
        cutoff = day_start(segment.last_visit_before, tz)
        attended = (Appointment.lead_id == Lead.id) & (
            Appointment.status == AppointmentStatus.ATTENDED
        )
        where.append(exists().where(attended))
        where.append(~exists().where(attended, Appointment.starts_at >= cutoff))
    if segment.signed_up_from is not None:
        where.append(Lead.created_at >= day_start(segment.signed_up_from, tz))
    if segment.signed_up_to is not None:
        where.append(Lead.created_at < day_start(segment.signed_up_to + timedelta(days=1), tz))
    if segment.sequence_slug:
        where.append(
            exists().where(
                Enrollment.lead_id == Lead.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.sequence_id == Sequence.id,
                Sequence.slug == segment.sequence_slug,
            )
        )
    if segment.tag:
        where.append(exists().where(LeadTag.lead_id == Lead.id, LeadTag.tag == segment.tag))
    if segment.locations:
        where.append(scope.leads_at(segment.locations))
    if segment.language:
        where.append(Lead.language == segment.language)
    if segment.search:
        pattern = f"%{_like_escape(segment.search.lower())}%"
        where.append(
            or_(
                Lead.email.ilike(pattern, escape="\\"),
                Lead.first_name.ilike(pattern, escape="\\"),
            )
        )
    return where


def lead_ids(segment: Segment, *, zone: ZoneInfo | None = None) -> Select[int]:
    """Return a SELECT of the ids of the leads in the segment (add order or limits as needed)."""
    return select(Lead.id).where(*conditions(segment, zone=zone))


def _values(form: Mapping[str, str | list[str]], name: str) -> list[str]:
    raw = form.get(name)
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    return [item.strip() for item in items if item.strip()]


def _value(form: Mapping[str, str | list[str]], name: str) -> str:
    values = _values(form, name)
    return values[0] if values else ""


def _date(
    form: Mapping[str, str | list[str]], name: str, label: str, errors: dict[str, str]
) -> date | None:
    raw = _value(form, name)
    if not raw:
        return None
    try:
        return dates.check_day(date.fromisoformat(raw))
    except dates.DateError as exc:
        errors[name] = f"{label}: {exc}."
        return None
    except ValueError:
        errors[name] = f"{label}: enter a date as YYYY-MM-DD, for example 2026-11-30."
        return None


def parse_segment(form: Mapping[str, str | list[str]]) -> tuple[Segment, dict[str, str]]:
    """Read a segment from form fields; return it with errors by field name, in plain words."""
    errors: dict[str, str] = {}
    types = frozenset(_values(form, "numbness_type"))
    if unknown := sorted(types - set(NumbnessType)):
        errors["numbness_type"] = "Unknown numbness type: " + ", ".join(unknown)[:100] + "."
    statuses = frozenset(_values(form, "status"))
    if unknown := sorted(statuses - set(LeadStatus)):
        errors["status"] = "Unknown status: " + ", ".join(unknown)[:100] + "."
    booked_raw = _value(form, "booked").lower()
    booked: bool | None = None
    if booked_raw in ("yes", "true", "1"):
        booked = True
    elif booked_raw in ("no", "false", "0"):
        booked = False
    elif booked_raw not in ("", "any"):
        errors["booked"] = "Booked: choose yes, no or either."
    last_visit = _date(form, "last_visit_before", "Last visit before", errors)
    signed_from = _date(form, "signed_up_from", "Signed up from", errors)
    signed_to = _date(form, "signed_up_to", "Signed up to", errors)
    if signed_from and signed_to and signed_from > signed_to:
        errors["signed_up_to"] = "Signed up to: this date is before the 'from' date."
    slug = _value(form, "sequence") or None
    if slug is not None and not _SLUG.match(slug):
        errors["sequence"] = "Sequence: pick one from the list."
        slug = None
    tag: str | None = None
    if raw_tag := _value(form, "tag"):
        try:
            tag = clean_tag(raw_tag)
        except ValueError as exc:
            errors["tag"] = f"Tag: {exc}."
    sites = frozenset(_values(form, "location"))
    known = set(locations.keys())
    if unknown := sorted(sites - known):
        errors["location"] = "Unknown location: " + ", ".join(unknown)[:100] + "."
    language = _value(form, "language") or None
    if language is not None and language not in languages.offered():
        errors["language"] = "Language: pick one of the clinic's languages."
        language = None
    search = _value(form, "q")
    if len(search) > SEARCH_MAX:
        errors["q"] = f"Search: use at most {SEARCH_MAX} characters."
        search = search[:SEARCH_MAX]
    segment = Segment(
        numbness_types=types & set(NumbnessType),
        statuses=statuses & set(LeadStatus),
        booked=booked,
        last_visit_before=last_visit,
        signed_up_from=signed_from,
        signed_up_to=signed_to,
        sequence_slug=slug,
        search=search,
        tag=tag,
        locations=sites & known,
        language=language,
    )
    return segment, errors


def language_word(tag: str) -> str:
    """Name a language as staff read it: "Spanish" for es."""
    try:
        return languages.name_of(tag, in_language="en")
    except ValueError:
        return tag


def format_day(day: date) -> str:
    """Return a date as staff read it: 3 Nov 2026."""
    return f"{day.day} {day:%b} {day.year}"


def _range(start: date, end: date) -> str:
    if start == end:
        return f"on {format_day(start)}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}\u2013{format_day(end)}"
    if start.year == end.year:
        return f"{start.day} {start:%b} \u2013 {format_day(end)}"
    return f"{format_day(start)} \u2013 {format_day(end)}"


def _either(words: list[str]) -> str:
    return " or ".join(words)


def describe(segment: Segment) -> str:
    """Say in words which leads the segment picks: 'Chronic or acute leads, not booked'."""
    types = [TYPE_WORDS[NumbnessType(t)] for t in sorted(segment.numbness_types)]
    head = f"{_either(types).capitalize()} leads" if types else "All leads"
    parts = [head]
    if segment.statuses:
        parts.append(_either([STATUS_WORDS[LeadStatus(s)] for s in sorted(segment.statuses)]))
    if segment.booked is not None:
        parts.append("booked" if segment.booked else "not booked")
    if segment.last_visit_before:
        parts.append(f"last visit before {format_day(segment.last_visit_before)}")
    start, end = segment.signed_up_from, segment.signed_up_to
    if start and end:
        parts.append(f"signed up {_range(start, end)}")
    elif start:
        parts.append(f"signed up from {format_day(start)}")
    elif end:
        parts.append(f"signed up until {format_day(end)}")
    if segment.sequence_slug:
        parts.append(f"in sequence {segment.sequence_slug}")
    if segment.tag:
        parts.append(f"tagged \u201c{segment.tag}\u201d")
    if segment.locations:
        names = [s.name for s in locations.sites() if s.key in segment.locations]
        parts.append("at " + _either(names or sorted(segment.locations)))
    if segment.language:
        parts.append(f"language: {language_word(segment.language)}")
    if segment.search:
        parts.append(f"matching \u201c{segment.search}\u201d")
    return ", ".join(parts)


def segment_to_json(segment: Segment) -> dict[str, Any]:
    """Return the segment as JSON-ready data (lists sorted, dates as YYYY-MM-DD)."""

    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    # A language only when one is picked, so segments stored before languages read the same.
    language = {"language": segment.language} if segment.language else {}
    return language | {
        "numbness_types": sorted(segment.numbness_types),
        "statuses": sorted(segment.statuses),
        "booked": segment.booked,
        "last_visit_before": day(segment.last_visit_before),
        "signed_up_from": day(segment.signed_up_from),
        "signed_up_to": day(segment.signed_up_to),
        "sequence_slug": segment.sequence_slug,
        "search": segment.search,
        "tag": segment.tag,
        # Left out when empty, so segments stored before locations read back the same.
        **({"locations": sorted(segment.locations)} if segment.locations else {}),
    }


def segment_from_json(data: Mapping[str, Any]) -> Segment:
    """Rebuild a segment stored by `segment_to_json`; raise ValueError on anything else."""

    def day(name: str) -> date | None:
        value = data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"segment field {name} is not a date")
        return dates.check_day(date.fromisoformat(value))

    def words(name: str, allowed: set[str]) -> frozenset[str]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"segment field {name} is not a list of words")
        if unknown := set(value) - allowed:
            raise ValueError(f"segment field {name} has unknown values {sorted(unknown)}")
        return frozenset(value)

    booked = data.get("booked")
    if booked is not None and not isinstance(booked, bool):
        raise ValueError("segment field booked is not true, false or null")
    slug = data.get("sequence_slug")
    if slug is not None and not isinstance(slug, str):
        raise ValueError("segment field sequence_slug is not text")
    search = data.get("search") or ""
    if not isinstance(search, str):
        raise ValueError("segment field search is not text")
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError("segment field language is not text")
    return Segment(
        numbness_types=words("numbness_types", set(NumbnessType)),
        statuses=words("statuses", set(LeadStatus)),
        booked=booked,
        last_visit_before=day("last_visit_before"),
        signed_up_from=day("signed_up_from"),
        signed_up_to=day("signed_up_to"),
        sequence_slug=slug or None,
        search=search,
        tag=clean_tag(tag)
        if (tag := data.get("tag")) is not None and isinstance(tag, str)
        else None,
        locations=words("locations", set(data.get("locations") or [])),
        language=language or None,
    )
