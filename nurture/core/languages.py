"""Which of the clinic's languages a person reads, matched with Babel (CLDR).

A language is kept as a BCP 47 tag ("es", "es-MX"), one of NURTURE_LANGUAGES. Whatever a
form, an API, a booking system or a browser says ("es_US", "ES", "es-419", an Accept-Language
header) is matched to the nearest offered language; dates are formatted in that language with
the clinic's region (see `formatting_locale`).
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError, negotiate_locale

from nurture.core.config import get_settings
from nurture.core.language_tags import parse

# An Accept-Language header longer than this, or with more entries, is read only this far.
_HEADER_MAX_CHARS = 500
_HEADER_MAX_ENTRIES = 12


def offered() -> list[str]:
    """Return the clinic's languages, the default first."""
    return list(get_settings().languages)


def default() -> str:
    """Return the clinic's default language."""
    return get_settings().default_language


def nearest(tag: str | None) -> str | None:
    """Return the offered language nearest to `tag`, or None if none shares its language.

    Raises ValueError when `tag` is no language at all.
    """
    if tag is None or not tag.strip():
        return None
    wanted = parse(tag)
    languages = offered()
    by_locale = {str(parse(lang)): lang for lang in languages}
    found = negotiate_locale([str(wanted), wanted.language], list(by_locale))
    if found is not None:
        return by_locale[found]
    # "es-MX" for a clinic offering "es-US": the same language is nearer than the default.
    for lang in languages:
        if parse(lang).language == wanted.language:
            return lang
    return None


def choose(tag: str | None) -> str:
    """Return the offered language nearest to `tag`, else the default; ValueError if no language."""
    return nearest(tag) or default()


def choose_leniently(tag: object) -> str:
    """Return the nearest offered language to whatever `tag` is, the default if it is unusable."""
    if not isinstance(tag, str):
        return default()
    try:
        return choose(tag)
    except ValueError:
        return default()


def from_accept_language(header: str | None) -> str | None:
    """Return the offered language a browser's Accept-Language header prefers most, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:_HEADER_MAX_CHARS].split(",")[:_HEADER_MAX_ENTRIES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        try:
            found = nearest(tag)
        except ValueError:
            continue
        if found is not None:
            return found
    return None


@lru_cache(maxsize=64)
def _formatting(language: str, default_language: str, clinic_locale: str, country: str) -> Locale:
    wanted = parse(language)
    clinic = Locale.parse(clinic_locale)
    if language == default_language or wanted.language == clinic.language:
        # The clinic's own language keeps NURTURE_CLINIC_LOCALE's conventions (en_GB, de_DE).
        if wanted.territory is None or wanted.territory == clinic.territory:
            return clinic
    if wanted.territory is not None:
        return wanted
    try:
        return Locale.parse(f"{wanted.language}_{country}")
    except (ValueError, UnknownLocaleError):
        return wanted


def formatting_locale(language: str | None) -> Locale:
    """Return the Babel locale dates are written in for `language` (es with US: es_US).

    The clinic's default language follows NURTURE_CLINIC_LOCALE; another language takes the
    region of NURTURE_CLINIC_COUNTRY when Babel knows that pair, else its own conventions.
    """
    s = get_settings()
    lang = choose_leniently(language)
    return _formatting(lang, s.default_language, s.clinic_locale, s.clinic_country)


def name_of(language: str, *, in_language: str | None = None) -> str:
    """Return a language's name, in its own words ("español") or in `in_language` ("Spanish")."""
    locale = parse(language)
    name = locale.get_language_name(parse(in_language) if in_language else locale) or language
    return name[:1].upper() + name[1:]
