"""Results by language: broadcasts in each reader's language, per-language counts, A/B arms."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from nurture.broadcasts.models import Broadcast
from nurture.broadcasts.results import broadcast_results
from nurture.core.config import get_settings
from nurture.enrollments.variant_results import variant_tests
from nurture.leads.models import LeadStatus
from nurture.leads.segments import Segment
from nurture.rendering.safety import SAFETY, SAFETY_ES
from tests.broadcasts.test_planning import make_broadcast, rows
from tests.broadcasts.test_sending import NOW, YORK, tick
from tests.factories import make_lead, outbox_messages, text_part
from tests.studio.conftest import Studio
from tests.studio.test_variant_results import _row as ab_row
from tests.studio.test_variant_results import _sent as ab_sent
from tests.studio.test_variant_results import _sequence as ab_sequence

SPANISH = {
    "subject": "Nuevo horario de tarde",
    "preheader": "Desde la próxima semana",
    "markdown": "Hola, {{ first_name }}:\n\nAhora atendemos hasta las 8 p. m.",
}


def _people(session) -> None:  # type: ignore[no-untyped-def]
    for name, language in (("ana", "es"), ("eva", "es"), ("sam", "en")):
        lead = make_lead(
            session, email_address=f"{name}@example.com", first_name=name.title(), timezone=YORK
        )
        lead.language = language
    session.commit()


def test_each_reader_gets_the_broadcast_in_their_language_and_results_split(
    session, studio: Studio
) -> None:
    _people(session)
    broadcast = make_broadcast(session)
    broadcast.translations = {"es": SPANISH}
    session.commit()
    assert [o.status for o in tick(NOW)] == ["sent"] * 3
    sent = {m["To"]: m for m in outbox_messages(get_settings().resolved_outbox_dir)}
    assert sent["ana@example.com"]["Subject"] == "Nuevo horario de tarde"
    ana = text_part(sent["ana@example.com"])
    assert ana.startswith("Desde la próxima semana")
    assert "Hola, Ana:" in ana
    assert all(flag in ana for flag in SAFETY_ES.red_flags)
    assert sent["sam@example.com"]["Subject"] == "New evening hours"
    assert all(flag in text_part(sent["sam@example.com"]) for flag in SAFETY.red_flags)
    assert sorted(m.language for m in rows(session, broadcast)) == ["en", "es", "es"]

    result = broadcast_results(session, broadcast, booked_within_days=7)
    assert {k: v["sent"] for k, v in result.by_language.items()} == {"en": 1, "es": 2}
    page = studio.get(f"/studio/broadcasts/{broadcast.id}").text
    table = re.search(r'<table id="by-language">(.*?)</table>', page, re.S)
    assert table, "no table by language"
    cells = re.findall(r'<th scope="row">(\w+)</th><td class="num">(\d+)</td>', table.group(1))
    assert cells == [("English", "1"), ("Spanish", "2")]


def test_a_broadcast_can_go_to_one_languages_readers_only(session) -> None:  # type: ignore[no-untyped-def]
    _people(session)
    broadcast = make_broadcast(session, Segment(language="es"))
    tick(NOW)
    planned = {m.lead_id for m in rows(session, broadcast)}
    assert len(planned) == 2
    sent = {m["To"] for m in outbox_messages(get_settings().resolved_outbox_dir)}
    assert sent == {"ana@example.com", "eva@example.com"}


def test_without_a_spanish_version_spanish_readers_get_the_original(session) -> None:  # type: ignore[no-untyped-def]
    _people(session)
    broadcast = make_broadcast(session, at=datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    tick(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    subjects = {m["Subject"] for m in outbox_messages(get_settings().resolved_outbox_dir)}
    assert subjects == {"New evening hours"}
    assert {m.language for m in rows(session, broadcast)} == {"en"}


def _ab_sent(session):  # type: ignore[no-untyped-def]
    """Arm a read by two in English (one sent before languages were kept) and one in Spanish,
    arm b by two in Spanish."""
    sequence = ab_sequence(session)
    a = ab_sent(session, sequence, "a", 3, booked=1)
    b = ab_sent(session, sequence, "b", 2, booked=0)
    for message, language in zip([*a, *b], ["es", "en", None, "es", "es"], strict=True):
        message.language = language
    session.commit()
    return sequence


def test_ab_results_say_which_language_each_arm_was_read_in(session, studio: Studio) -> None:  # type: ignore[no-untyped-def]
    sequence = _ab_sent(session)
    (test,) = variant_tests(session, sequence, within_days=7)
    assert [(x.key, x.languages) for x in test.arms] == [
        ("a", {"en": 2, "es": 1}),
        ("b", {"es": 2}),
    ]
    page = studio.get("/studio/results/ab?days=7").text
    assert "read in English 2, Spanish 1" in ab_row(page, "a")[2]
    assert "read in Spanish 2" in ab_row(page, "b")[2]


def _sent_per_step(page: str) -> dict[str, int]:
    table = re.search(r'<table id="step-results">(.*?)</table>', page, re.S)
    assert table
    return {
        key: int(n)
        for key, n in re.findall(r"<td>(\w+)<br>.*?</td>\s*<td class=\"num\">(\d+)", table.group(1))
    }


def test_sequence_results_can_be_read_one_language_at_a_time(session, studio: Studio) -> None:  # type: ignore[no-untyped-def]
    _ab_sent(session)
    assert _sent_per_step(studio.get("/studio/results/ab").text)["welcome"] == 5
    spanish = studio.get("/studio/results/ab?language=es").text
    assert '<option value="es" selected>Spanish</option>' in spanish
    assert _sent_per_step(spanish)["welcome"] == 3
    # Emails sent before languages were kept count as the clinic's default language.
    assert _sent_per_step(studio.get("/studio/results/ab?language=en").text)["welcome"] == 2
    # A language the clinic does not offer shows every email, never an error.
    assert _sent_per_step(studio.get("/studio/results/ab?language=xx").text)["welcome"] == 5


def test_a_draft_says_how_many_readers_get_the_original_for_want_of_their_language(
    session, studio: Studio
) -> None:
    _people(session)
    make_lead(
        session, email_address="out@example.com", status=LeadStatus.NO_CONSENT
    ).language = "es"
    session.commit()
    broadcast = make_broadcast(session, schedule=False)
    page = studio.get(f"/studio/broadcasts/{broadcast.id}").text
    assert (
        "<strong>2</strong> of them read Spanish. This broadcast has no Spanish version, so they "
        "get it in English." in page
    )
    assert (
        studio.post(f"/studio/broadcasts/{broadcast.id}/languages/es", SPANISH).status_code == 303
    )
    session.expire_all()
    assert session.get(Broadcast, broadcast.id).translations["es"]["subject"] == SPANISH["subject"]
    assert "untranslated" not in studio.get(f"/studio/broadcasts/{broadcast.id}").text
    # A group of English readers only has nobody to warn about.
    english = make_broadcast(session, Segment(language="en"), schedule=False)
    assert "untranslated" not in studio.get(f"/studio/broadcasts/{english.id}").text
