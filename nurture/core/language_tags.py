"""BCP 47 language tags read with Babel: "es-MX", "es_US" and "ES" name locales it knows."""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


@lru_cache(maxsize=256)
def parse(tag: str) -> Locale:
    """Return the Babel locale a BCP 47 tag names ("es-MX", "es_US", "ES"); ValueError if none."""
    text = tag.strip()
    if not text or len(text) > 35 or not _TAG.match(text):
        raise ValueError(f"{tag[:40]!r} is not a language (write it like en, es or es-MX)")
    try:
        return Locale.parse(text.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        # Region or script Babel does not combine with the language ("es-DE"): the language.
        base = text.replace("_", "-").split("-")[0]
        try:
            return Locale.parse(base.lower())
        except (ValueError, TypeError, UnknownLocaleError):
            raise ValueError(
                f"{tag[:40]!r} is not a language (write it like en, es or es-MX)"
            ) from None


def tag_of(locale: Locale) -> str:
    """Return `locale` as a BCP 47 tag: language, then script and region ("es-MX")."""
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


def check_tag(tag: str) -> str:
    """Return `tag` written the BCP 47 way ("es-MX"), or raise ValueError if Babel knows none."""
    return tag_of(parse(tag))
