"""Fixed words in the patient's language: gettext catalogs under nurture/translations.

Each language has `translations/<lang>/LC_MESSAGES/messages.po`, written by translators and
compiled to `messages.mo` by the package build (hatch_build.py). A checkout or an editable
install has no `.mo`, so a catalog whose `.mo` is missing or older than its `.po` is compiled
in memory from the `.po` the first time it is needed (one file per language, read once).

The language of the work at hand (a request, an email being written) is a context variable:
`use_language` sets it, `gettext` reads it. English source strings stand when a catalog
lacks a message, so a missing translation shows the original, never nothing.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from nurture.core.config import PACKAGE_DIR
from nurture.core.language_tags import parse as parse_tag
from nurture.core.languages import choose_leniently, default

CATALOGS = PACKAGE_DIR / "translations"
DOMAIN = "messages"

_current: ContextVar[str | None] = ContextVar("nurture_language", default=None)


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Mark `message` for translation where it is defined; translate it where it is shown."""
    return message


def _candidates(language: str) -> list[str]:
    locale = parse_tag(language)
    names = [str(locale)]
    if locale.territory or locale.script:
        names.append(locale.language)
    return names


def _read(po: Path, mo: Path) -> stdlib_gettext.NullTranslations:
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return Translations(fh, domain=DOMAIN)
    with po.open("rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@lru_cache(maxsize=16)
def catalog(language: str) -> stdlib_gettext.NullTranslations:
    """Return the translations for `language` (es-MX falls back to es; none: the originals)."""
    for name in _candidates(language):
        folder = CATALOGS / name / "LC_MESSAGES"
        po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
        if po.is_file() or mo.is_file():
            return _read(po, mo)
    return stdlib_gettext.NullTranslations()


def current_language() -> str:
    """Return the language of the work at hand: the one set by `use_language`, else the default."""
    return _current.get() or default()


def set_language(language: str | None) -> str:
    """Make `language` (matched to an offered one) the current language; return it."""
    chosen = choose_leniently(language)
    _current.set(chosen)
    return chosen


def begin(language: str | None) -> Token[str | None]:
    """Make `language` current until `end(token)` (for middleware that wraps a request)."""
    return _current.set(choose_leniently(language))


def end(token: Token[str | None]) -> None:
    """Restore the language that was current before `begin`."""
    _current.reset(token)


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Within the block, `gettext` answers in `language` (matched to an offered one)."""
    token = _current.set(choose_leniently(language))
    try:
        yield _current.get() or default()
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """Return `message` in the current language."""
    return catalog(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Return the singular or plural of a message for `n`, in the current language."""
    return catalog(current_language()).ngettext(singular, plural, n)


def gettext_in(language: str | None, message: str) -> str:
    """Return `message` in `language` (matched to an offered one), whatever is current."""
    return catalog(choose_leniently(language)).gettext(message)
