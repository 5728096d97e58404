"""The Spanish emails pass every check the English ones do, and Spanish health words are refused."""

from __future__ import annotations

import pytest

from nurture.messages import text_checks
from nurture.messages.preview import all_samples, problems
from nurture.sequences.checks import StepSource, check_step


def test_every_spanish_email_passes_the_checks_and_carries_the_full_box() -> None:
    samples = list(all_samples("es"))
    assert len([s for s in samples if not s.marketing]) == 4 * 8  # every transactional email
    found = {s.name: problems(s, require_https=False) for s in samples}
    assert {name: p for name, p in found.items() if p} == {}
    assert all(s.email.language == "es" for s in samples)
    assert all('lang="es"' in s.email.html for s in samples)


@pytest.mark.parametrize(
    "subject",
    [
        "Su entumecimiento",
        "Hormigueo en la pierna",
        "¿Ciática?",
        "Cuando el nervio se queja",
        "Dolor que va y viene",
        "Adormecimiento",
        "Su sintoma",  # typed without its accent
        "Ciatica",
        "Su pierna esta semana",
    ],
)
def test_spanish_condition_words_are_refused_in_subjects_and_preheaders(subject: str) -> None:
    for source in (
        StepSource(subject, "", "<p>Hola</p>", None),
        StepSource("Hola", subject, "<p>Hola</p>", None),
    ):
        messages = [str(p) for p in check_step(source).errors]
        assert any("names a condition" in m for m in messages), (subject, messages)


def test_a_spanish_text_may_not_name_the_condition() -> None:
    source = (
        "{{ clinic.name }}: su cita por el hormigueo es el {{ visit.starts_at|visit_time(...) }} "
        "en {{ visit.address }}. Responda C para confirmar."
    )
    assert any("hormigue" in p for p in text_checks.problems("appointment_reminder", source))
    fine = source.replace(" por el hormigueo", "")
    assert text_checks.problems("appointment_reminder", fine) == []
