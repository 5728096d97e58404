"""Visit times as a patient reads them: their visit's zone, the clinic's language (Babel)."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    get_timezone_gmt,
)

from nurture.core.config import get_settings
from nurture.core.languages import formatting_locale

# Babel's fallback for a zone with no short name in the locale is a bare "+0300"; the localized
# GMT form ("GMT+03:00", trimmed to CLDR's short "GMT+3" or "GMT+5:30") reads as a zone.
_GMT_OFFSET = re.compile(r"([+-])0?(\d{1,2})(?::00)?(?!\d)")


@lru_cache(maxsize=16)
def parse_locale(value: str) -> Locale:
    """Return the Babel locale for `value` (such as "en_US" or "de-DE"); raise ValueError."""
    try:
        return Locale.parse(value.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise ValueError(f"unknown locale {value!r}: {exc}") from exc


def _zone_name(moment: datetime, locale: Locale) -> str:
    name = str(format_datetime(moment, "z", tzinfo=moment.tzinfo, locale=locale))
    if name[:1] in "+-":
        gmt = str(get_timezone_gmt(moment, "long", locale=locale))
        name = _GMT_OFFSET.sub(r"\1\2", gmt)
    return name


def format_visit_time(
    moment: datetime,
    tz: str | tzinfo,
    locale: str | Locale | None = None,
    *,
    short: bool = False,
) -> str:
    """Say when a visit is: "Wednesday, December 2, 2026 at 10:00 AM CST" in en_US.

    The date, time, joining word and zone name all follow `locale` (the clinic's
    NURTURE_CLINIC_LOCALE when omitted), and the clock reads the visit's own zone `tz`.
    `short` gives "Wed, Dec 2 at 10:00 AM CST", for subjects (which must stay under 60).
    """
    if moment.tzinfo is None:
        raise ValueError("a visit time must be timezone-aware")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if locale is None:
        locale = get_settings().clinic_locale
    loc = parse_locale(locale) if isinstance(locale, str) else locale
    local = moment.astimezone(zone)
    if short:
        date_part = format_skeleton("MMMEd", local, tzinfo=zone, locale=loc)
    else:
        date_part = format_date(local, "full", locale=loc)
    time_part = f"{format_time(local, 'short', tzinfo=zone, locale=loc)} {_zone_name(local, loc)}"
    # CLDR's "at" join ("{1} 'at' {0}", "{1} 'um' {0}"), which Babel (2.19+) files with the
    # relative formats; its plain join ("{1}, {0}") reads as a list. Quotes only mark literal
    # text in these patterns, and Babel's own joining drops them the same way.
    pattern = loc.datetime_formats_relative.get("full") or loc.datetime_formats["full"]
    joined = str(pattern).replace("'", "").format(time_part, date_part)
    # CLDR puts a narrow no-break space before "AM"; older fonts and text clients show it as a
    # box, and in a subject it forces encoded words, so it is written as a plain space.
    return joined.replace("\u202f", " ")


def format_day(
    moment: datetime, tz: str | tzinfo | None, locale: str | Locale | None = None
) -> str:
    """Say which day `moment` falls on in zone `tz`: "December 20, 2026" in en_US.

    The clinic's zone and locale (NURTURE_CLINIC_TIMEZONE, NURTURE_CLINIC_LOCALE) stand in
    for what is not given; en_GB reads "20 December 2026", de_DE "20. Dezember 2026".
    """
    tz = tz or get_settings().clinic_timezone
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if locale is None:
        locale = get_settings().clinic_locale
    loc = parse_locale(locale) if isinstance(locale, str) else locale
    return str(format_date(moment.astimezone(zone).date(), "long", locale=loc))


def format_for_language(
    moment: datetime, tz: str | tzinfo, language: str | None, *, short: bool = False
) -> str:
    """Say when `moment` is for a person reading `language` in zone `tz`.

    The words follow the language and the clinic's region (es with US: "martes, 15 de
    diciembre de 2026, 10:00 a.m. CST"); the clinic's default language keeps
    NURTURE_CLINIC_LOCALE. `short` is the subject-length form, as in format_visit_time.
    """
    return format_visit_time(moment, tz, formatting_locale(language), short=short)


def format_day_for_language(moment: datetime, tz: str | tzinfo | None, language: str | None) -> str:
    """Say which day `moment` falls on in zone `tz` for a person reading `language`."""
    return format_day(moment, tz, formatting_locale(language))
