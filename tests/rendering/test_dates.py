"""Visit times read in the clinic's language with a named zone, everywhere a patient sees one."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nurture.appointments import service as appointments
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.core.config import Settings, get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.messages.links import visit_url
from nurture.rendering.dates import format_visit_time
from tests.factories import outbox_messages, text_part

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WINTER = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "zone", "locale", "expected"),
    [
        (WINTER, "America/Chicago", "en_US", "Wednesday, December 2, 2026 at 10:00 AM CST"),
        (SUMMER, "America/Chicago", "en_US", "Wednesday, July 1, 2026 at 10:00 AM CDT"),
        (WINTER, "America/New_York", "en_US", "Wednesday, December 2, 2026 at 11:00 AM EST"),
        (WINTER, "Europe/Berlin", "de_DE", "Mittwoch, 2. Dezember 2026 um 17:00 MEZ"),
        (SUMMER, "Europe/Berlin", "de_DE", "Mittwoch, 1. Juli 2026 um 17:00 MESZ"),
        (WINTER, "Europe/London", "en_GB", "Wednesday, 2 December 2026 at 16:00 GMT"),
        (SUMMER, "Europe/London", "en_GB", "Wednesday, 1 July 2026 at 16:00 BST"),
        (WINTER, "Europe/Berlin", "en_GB", "Wednesday, 2 December 2026 at 17:00 CET"),
        # Zones with no abbreviation in the locale read as an offset from GMT.
        (WINTER, "Europe/Moscow", "en_US", "Wednesday, December 2, 2026 at 7:00 PM GMT+3"),
        (WINTER, "Asia/Kolkata", "en_GB", "Wednesday, 2 December 2026 at 21:30 GMT+5:30"),
        (WINTER, "Europe/Berlin", "de-DE", "Mittwoch, 2. Dezember 2026 um 17:00 MEZ"),
    ],
)
def test_format_visit_time(moment: datetime, zone: str, locale: str, expected: str) -> None:
    assert format_visit_time(moment, zone, locale) == expected
    assert format_visit_time(moment, ZoneInfo(zone), locale) == expected


@pytest.mark.parametrize(
    ("zone", "locale", "expected"),
    [
        ("America/Chicago", "en_US", "Wed, Dec 2 at 10:00 AM CST"),
        ("Europe/Berlin", "de_DE", "Mi., 2. Dez. um 17:00 MEZ"),
        ("Europe/London", "en_GB", "Wed 2 Dec at 16:00 GMT"),
    ],
)
def test_short_form_for_subjects(zone: str, locale: str, expected: str) -> None:
    assert format_visit_time(WINTER, zone, locale, short=True) == expected


def test_format_visit_time_defaults_to_the_clinic_locale(settings) -> None:
    assert format_visit_time(WINTER, "America/Chicago") == (
        "Wednesday, December 2, 2026 at 10:00 AM CST"
    )
    settings(clinic_locale="de_DE")
    assert format_visit_time(WINTER, "Europe/Berlin") == "Mittwoch, 2. Dezember 2026 um 17:00 MEZ"


def test_format_visit_time_refuses_naive_times_and_unknown_locales() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_visit_time(datetime(2026, 12, 2, 10, 0), "America/Chicago", "en_US")  # noqa: DTZ001
    with pytest.raises(ValueError, match="unknown locale 'xx_YY'"):
        format_visit_time(WINTER, "America/Chicago", "xx_YY")


@pytest.mark.parametrize("value", ["xx_YY", "klingon", "", "../../etc"])
def test_clinic_locale_setting_is_checked_with_babel(value: str) -> None:
    with pytest.raises(ValidationError, match="unknown locale"):
        Settings(clinic_locale=value)


def test_clinic_locale_setting_is_normalised(settings) -> None:
    assert get_settings().clinic_locale == "en_US"
    assert settings(clinic_locale="de-DE").clinic_locale == "de_DE"
    assert settings(clinic_locale="en_gb").clinic_locale == "en_GB"


def _book_and_send(session, starts_at: datetime, zone: str) -> int:  # type: ignore[no-untyped-def]
    data = AppointmentIn(email="pat@example.com", starts_at=starts_at, timezone=zone)
    appointment = appointments.book(session, data=data, now=NOW).appointment
    session.commit()
    with clock.frozen_at(NOW):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    return appointment.id


@pytest.mark.parametrize(
    ("locale", "zone", "expected", "subject"),
    [
        (
            "en_US",
            "America/Chicago",
            "Wednesday, December 2, 2026 at 10:00 AM CST",
            "Wed, Dec 2 at 10:00 AM CST",
        ),
        (
            "de_DE",
            "Europe/Berlin",
            "Mittwoch, 2. Dezember 2026 um 17:00 MEZ",
            "Mi., 2. Dez. um 17:00 MEZ",
        ),
        (
            "en_GB",
            "Europe/London",
            "Wednesday, 2 December 2026 at 16:00 GMT",
            "Wed 2 Dec at 16:00 GMT",
        ),
    ],
)
def test_visit_emails_and_page_follow_the_clinic_locale(
    session, settings, client, locale: str, zone: str, expected: str, subject: str
) -> None:
    settings(clinic_locale=locale)
    appointment_id = _book_and_send(session, WINTER, zone)
    [email] = outbox_messages(get_settings().resolved_outbox_dir)
    html = email.get_body(preferencelist=("html",))
    assert html is not None
    assert str(email["Subject"]) == f"Booked: your visit on {subject}"
    for part in (text_part(email), str(html.get_content())):
        assert expected in part
        assert zone not in part
    page = client.get(visit_url(appointment_id).removeprefix("https://nurture.test"))
    assert page.status_code == 200
    assert expected in page.text
    assert zone not in page.text
