"""Read every date and time the service is given, inside a window of years it can compute with.

Python's dates end at 9999-12-31: a visit there has no day after it, and a time written with a
negative offset lies past the end once moved to UTC. Every date the service reads passes
through here, so a far year is refused with the field's name instead of failing deep inside.

One rule for times without an offset: a caller that knows the zone they are meant in (a form in
the clinic's zone, a lead's own zone) passes it as `naive_zone`; otherwise they are refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

# Wide enough for any visit, signup or consent on record, far enough from year 9999 that a
# reminder, a day view or a conversion between zones never leaves Python's calendar.
MIN_YEAR = 1900
MAX_YEAR = 2999
EXAMPLE = "2026-03-27T10:00:00+01:00"


class DateError(ValueError):
    """A date or time the service cannot use; the message says what to write instead."""


def _outside(shown: str) -> DateError:
    return DateError(f"{shown} is outside the years {MIN_YEAR} to {MAX_YEAR}")


def check_day(day: date) -> date:
    """Return `day` if its year lies in the window, else raise DateError."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise _outside(day.isoformat())
    return day


def check_moment(moment: datetime, *, naive_zone: tzinfo | None = None) -> datetime:
    """Return `moment` in UTC, read in `naive_zone` if it has no offset; DateError if unusable."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        if naive_zone is None:
            raise DateError(f"{moment.isoformat()} has no UTC offset; write it like {EXAMPLE}")
        moment = moment.replace(tzinfo=naive_zone)
    # The local year first: converting a moment near either end of the calendar can overflow.
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise _outside(moment.isoformat())
    utc = moment.astimezone(UTC)
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise _outside(moment.isoformat())
    return utc


def parse_moment(text: str, *, naive_zone: tzinfo | None = None) -> datetime:
    """Read an ISO 8601 date and time and return it in UTC (see check_moment); DateError if not."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DateError(f"{text[:60]!r} is not a date and time such as {EXAMPLE}") from None
    return check_moment(moment, naive_zone=naive_zone)


def parse_local(text: str) -> datetime:
    """Read a date and time without a zone (a form's), its year in the window; DateError if not."""
    text = text.strip()
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise DateError(f"{text[:60]!r} is not a date and time such as 2026-12-01 09:00") from None
    if not MIN_YEAR <= local.year <= MAX_YEAR:
        raise _outside(local.date().isoformat())
    return local


def parse_day(text: str) -> date:
    """Read a day written YYYY-MM-DD, its year in the window; DateError if not."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DateError(f"{text[:60]!r} is not a day; write it as YYYY-MM-DD") from None
    return check_day(day)


def _in_window(moment: datetime) -> datetime:
    check_moment(moment)
    return moment


# A date and time in a request body: an offset is required and the year must be in the window.
# The value is kept as written (its offset too); check_moment has shown that it converts safely.
Moment = Annotated[AwareDatetime, AfterValidator(_in_window)]
