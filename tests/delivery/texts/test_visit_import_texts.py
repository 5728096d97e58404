"""The visits CSV import takes a phone (read in the clinic's country) and SMS consent."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core import clock
from nurture.leads.models import ConsentRecord
from nurture.outbox.models import Message
from tests.delivery.texts.helpers import NOW, PHONE

HEADER = "external_id,email,starts_at,timezone,status,phone,sms_consent\n"
FUTURE = "2026-03-27T10:00:00+01:00"


def _run(path: Path):  # type: ignore[no-untyped-def]
    with clock.frozen_at(NOW):
        return CliRunner().invoke(main, ["visits", "import", str(path)])


def test_a_row_with_phone_and_consent_gets_texts(tmp_path: Path, session, settings) -> None:
    settings(clinic_country="DE")
    path = tmp_path / "visits.csv"
    path.write_text(
        HEADER
        + f"v1,pat@example.com,{FUTURE},Europe/Berlin,booked,0151 1234 5678,yes\n"
        + f"v2,sam@example.com,{FUTURE},Europe/Berlin,booked,0151 1234 5679,no\n",
        encoding="utf-8",
    )
    result = _run(path)
    assert result.exit_code == 0, result.output
    visit = session.scalar(select(Appointment).where(Appointment.external_id == "v1"))
    assert visit is not None
    assert visit.phone == PHONE
    texts = session.scalars(select(Message).where(Message.channel == "sms"))
    assert {m.appointment_id for m in texts} == {visit.id}
    purposes = session.scalars(select(ConsentRecord.purpose))
    assert list(purposes) == ["sms_reminders"]


def test_a_bad_phone_or_answer_is_a_line_error(tmp_path: Path, session) -> None:
    path = tmp_path / "visits.csv"
    path.write_text(
        HEADER
        + f"v1,pat@example.com,{FUTURE},Europe/Berlin,booked,12,yes\n"
        + f"v2,sam@example.com,{FUTURE},Europe/Berlin,booked,,perhaps\n",
        encoding="utf-8",
    )
    result = _run(path)
    assert result.exit_code != 0
    assert "line 2: phone:" in result.output
    assert "line 3: sms_consent: must be yes or no" in result.output
    assert session.scalar(select(Appointment.id)) is None
