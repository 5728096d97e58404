"""A message in other languages: a step's, a variant's or a broadcast's `translations`.

In a sequence file a step (or an A/B variant) may say

    translations:
      es:
        subject: ...
        markdown: |
          ...

with any of subject, preheader, markdown or html, and text. What a translation leaves out is
the original's, as for a variant; a translation that replaces the body without a text part
gets a text part derived from its own body. The stored form is the file's (a JSON column), so
a draft, a restored version and an export carry translations the way they carry steps.

A person whose language a message has no translation for gets the original, in the clinic's
default language, layout included: never one email in two languages.
"""

from __future__ import annotations

import re
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import ConfigDict, Field, model_validator

from nurture.core.language_tags import check_tag
from nurture.rendering.limits import MAX_SIZE
from nurture.rendering.markdown import markdown_template
from nurture.sequences.tidy import MessageText

TRANSLATION_FIELDS = ("subject", "preheader", "markdown", "html", "text")
_SHAPE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def language_tag(value: object) -> str:
    """Return a translation's language as a tag ("es", "es-MX"); ValueError in words if none."""
    text = str(value).strip() if isinstance(value, str) else ""
    if not _SHAPE.match(text):
        raise ValueError(
            f"{str(value)[:40]!r} is not a language: write it as a language code like es or es-MX"
        )
    return check_tag(text)


class TranslationSpec(MessageText):
    """What one language says instead of the original; unset fields are the original's."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=300)
    preheader: str | None = Field(default=None, max_length=300)
    markdown: str | None = Field(default=None, min_length=1, max_length=MAX_SIZE)
    html: str | None = Field(default=None, min_length=1)
    text: str | None = None

    @property
    def body_html(self) -> str | None:
        """Return the translated body as an HTML template, or None when it keeps the original."""
        if self.markdown is not None:
            return markdown_template(self.markdown)
        return self.html

    @model_validator(mode="after")
    def _something(self) -> TranslationSpec:
        if self.markdown is not None and self.html is not None:
            raise ValueError("write the body as either `markdown` or `html`, not both")
        if all(getattr(self, name) is None for name in TRANSLATION_FIELDS):
            raise ValueError(
                f"it translates nothing: give it any of {', '.join(TRANSLATION_FIELDS)}"
            )
        return self


Translations = dict[str, TranslationSpec]


def check_raw(raw: object, where: str) -> None:
    """Raise ValueError naming `where` and the language for a malformed `translations` map.

    Run before the typed parse so the message says which step (or variant) and language is
    wrong, in words, rather than a path of list positions.
    """
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ValueError(
            f"{where}: `translations` maps a language to its fields, like `es: {{subject: ...}}`"
        )
    seen: set[str] = set()
    for tag, fields in raw.items():
        try:
            lang = language_tag(tag)
        except ValueError as exc:
            raise ValueError(f"{where}, translations: {exc}") from None
        if lang in seen:
            raise ValueError(f"{where}: two translations for {lang}")
        seen.add(lang)
        if not isinstance(fields, dict):
            raise ValueError(
                f"{where}, translation {lang}: give its fields ({', '.join(TRANSLATION_FIELDS)})"
            )
        unknown = sorted(str(k) for k in fields if k not in TRANSLATION_FIELDS)
        if unknown:
            raise ValueError(
                f"{where}, translation {lang}: unknown field {', '.join(unknown)}; a translation "
                f"may set {', '.join(TRANSLATION_FIELDS)}"
            )
        try:
            TranslationSpec.model_validate(fields)
        except ValueError as exc:
            raise ValueError(f"{where}, translation {lang}: {_first_error(exc)}") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        place = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{place}: {message}" if place else message
    return str(exc)


def normalised(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a raw `translations` map with each language written as its tag."""
    if not value:
        return None
    return {language_tag(tag): fields for tag, fields in value.items()}


def stored(specs: Translations | None) -> dict[str, dict[str, str]] | None:
    """Return translations as the JSON a step, variant or broadcast keeps (file fields only)."""
    if not specs:
        return None
    return {lang: spec.model_dump(exclude_none=True) for lang, spec in sorted(specs.items())}


def fields_of(stored_value: dict[str, Any] | None, language: str) -> dict[str, str] | None:
    """Return the stored fields of `language`, or None when the message has no such translation."""
    if not stored_value:
        return None
    found = stored_value.get(language)
    return found if isinstance(found, dict) else None


def language_name(tag: str) -> str:
    """Return a language as staff say it ("Spanish", "Spanish (Mexico)"), not its code."""
    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name("en")
    except (ValueError, TypeError, UnknownLocaleError):
        return tag
    return name[:1].upper() + name[1:] if name else tag


def languages_of(stored_value: dict[str, Any] | None) -> list[str]:
    """Return the languages a stored message is translated into, sorted."""
    return sorted(stored_value or {})
