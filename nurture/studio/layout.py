"""The studio's page templates and their filters, shared by the studio and the error pages."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from nurture.core import languages
from nurture.core.config import PACKAGE_DIR, get_settings
from nurture.sequences.simulate import moment_of
from nurture.sequences.translations import language_name

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "studio" / "templates"))


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Show a stored UTC time in the clinic's zone (the studio's working time), named."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(get_settings().clinic_timezone)).strftime(fmt)


# A date or a time in a message (2026-03-01, 09:30+01:00): each one piece a browser must not
# break at its hyphens or sign, or "2026-" ends one line and "03-01" starts the next.
_DATE_OR_TIME = re.compile(r"\d{4}-\d\d-\d\d|\d\d:\d\d(?::\d\d)?(?:Z|[+-]\d\d:\d\d)?")


def _whole_dates(message: object) -> Markup:
    """Escape `message`, keeping each date or time in it on one line."""
    return Markup(
        _DATE_OR_TIME.sub(
            lambda m: f'<span class="nowrap">{m.group(0)}</span>', str(escape(message))
        )
    )


templates.env.filters["local"] = _local
templates.env.filters["whole_dates"] = _whole_dates
templates.env.filters["tz"] = ZoneInfo
# What a sequence's start date means, for the simulator and anything else naming triggers.
templates.env.globals["moment_of"] = moment_of


def other_languages() -> list[tuple[str, str]]:
    """The clinic's languages besides its main one, as (tag, name staff read: "Spanish")."""
    return [(tag, language_name(tag)) for tag in languages.offered()[1:]]


templates.env.globals["other_languages"] = other_languages
templates.env.globals["main_language"] = lambda: language_name(languages.default())
templates.env.globals["main_language_tag"] = languages.default


class _LanguageNames(dict[str, str]):
    """A language's name as staff read it ("Spanish"), for any tag a table shows."""

    def __missing__(self, tag: str) -> str:
        return language_name(tag)

    def get(self, tag: str, default: object = None) -> str:
        return self[tag]


templates.env.globals["language_names"] = _LanguageNames()
