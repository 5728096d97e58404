"""Matching what people and systems say about language to the clinic's languages (Babel)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nurture.core import languages
from nurture.core.config import Settings


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("es", "es"), ("es-MX", "es"), ("es_US", "es"), ("ES", "es"), ("en-GB", "en"), ("fr", None)],
)
def test_a_tag_is_matched_to_the_nearest_offered_language(tag: str, expected: str | None) -> None:
    assert languages.nearest(tag) == expected


@pytest.mark.parametrize("tag", ["klingon", "xx", "e", "es--", "1", "es-MX;drop"])
def test_a_tag_that_is_no_language_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="not a language"):
        languages.choose(tag)


def test_an_unoffered_language_falls_back_to_the_default() -> None:
    assert languages.choose("fr-CA") == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("fr-FR, en;q=0.5, es;q=0.7", "es"),
        ("de, fr", None),
        ("es;q=0, en", "en"),
        ("*, es", "es"),
        ("", None),
        ("x" * 2000, None),
    ],
)
def test_accept_language_picks_the_best_offered(header: str, expected: str | None) -> None:
    assert languages.from_accept_language(header) == expected


def test_the_setting_is_checked_and_written_the_bcp47_way(settings) -> None:
    assert settings(languages="es_mx, en ,es_MX").languages == ["es-MX", "en"]
    assert languages.nearest("es") == "es-MX"
    with pytest.raises(ValidationError, match="NURTURE_LANGUAGES"):
        Settings(languages="en,klingon")


def test_dates_are_formatted_in_the_language_with_the_clinic_region(settings) -> None:
    assert str(languages.formatting_locale("es")) == "es_US"
    assert str(languages.formatting_locale("en")) == "en_US"
    assert str(languages.formatting_locale(None)) == "en_US"
    settings(clinic_locale="en_GB", clinic_country="GB", languages="en,es,es-MX")
    assert str(languages.formatting_locale("en")) == "en_GB"
    # Babel knows no Spanish of Britain: Spanish conventions stand alone.
    assert str(languages.formatting_locale("es")) == "es"
    assert str(languages.formatting_locale("es-MX")) == "es_MX"


def test_language_names_for_people() -> None:
    assert languages.name_of("es") == "Español"
    assert languages.name_of("es", in_language="en") == "Spanish"


def test_a_visit_time_in_spanish_with_the_clinic_region() -> None:
    from datetime import UTC, datetime

    from nurture.rendering.dates import format_day_for_language, format_for_language

    moment = datetime(2026, 12, 15, 16, 0, tzinfo=UTC)
    # Babel's own es_US patterns (CLDR), not hand-written ones.
    spanish = format_for_language(moment, "America/Chicago", "es")
    assert spanish == "martes, 15 de diciembre de 2026, 10:00 a.m. CST"
    english = format_for_language(moment, "America/Chicago", "en")
    assert english == "Tuesday, December 15, 2026 at 10:00 AM CST"
    assert format_day_for_language(moment, "America/Chicago", "es") == "15 de diciembre de 2026"
