"""Importing leads from another tool: all rows or none; consent decides marketing."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from nurture.cli import main
from nurture.enrollments.models import Enrollment
from nurture.leads.models import ConsentRecord, Lead
from nurture.outbox.models import Message

HEADER = "email,first_name,numbness_type,timezone,consent_at,consent_source\n"


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    tmp_path: Path, session, sequences_loaded
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        HEADER
        + "ok@example.com,Ok,acute,Europe/Berlin,2026-01-02T10:00:00+00:00,old-form\n"
        + "broken,No,acute,,,\n"
        + "x@example.com,X,sudden,,,\n"
        + "y@example.com,Y,chronic,Mars/Base,,\n"
        + "OK@example.com,Again,acute,,,\n"
        + "z@example.com,Z,chronic,,yesterday,\n"
        + "worse,Q,sudden,Mars/Base,soon,\n"
    )
    result = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert result.exit_code == 1
    for line in (
        "line 3: email: not a valid email address",
        "line 4: numbness_type: 'sudden' is not one of acute, chronic, intermittent, unsure",
        "line 5: timezone: unknown time zone",
        "line 6: email: ok@example.com already appears on line 2",
        "line 7: consent_at: 'yesterday' is not a date and time such as 2026-03-01 09:30",
        # Every problem of a line, not only its first.
        "line 8: email: not a valid email address",
        "line 8: numbness_type: 'sudden' is not one of",
        "line 8: timezone: unknown time zone",
        "line 8: consent_at: 'soon' is not a date and time such as",
    ):
        assert line in result.output
    assert _count(session, Lead) == 0


def test_consented_rows_are_enrolled_and_others_kept_without_marketing(
    tmp_path: Path, session, sequences_loaded
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        HEADER
        + "a@example.com,Ana,chronic,Europe/Berlin,2026-01-02T10:00:00+00:00,old-form\n"
        + "b@example.com,Ben,acute,,,\n"
    )
    result = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 leads imported (1 with consent, 1 enrolled), 0 already known" in result.output
    session.expire_all()
    states = dict(session.execute(select(Lead.email, Lead.status)).all())
    assert states == {"a@example.com": "active", "b@example.com": "no_consent"}
    assert _count(session, Enrollment) == 1
    assert _count(session, ConsentRecord) == 1
    assert session.scalars(select(Message.lead_id)).all() == [
        session.scalars(select(Lead.id).where(Lead.email == "a@example.com")).one()
    ]
    again = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert "0 leads imported (0 with consent, 0 enrolled), 2 already known" in again.output
    out = tmp_path / "export.csv"
    exported = CliRunner().invoke(main, ["leads", "export", str(out)])
    assert exported.exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["email"], r["status"], r["consent_source"]) for r in rows] == [
        ("a@example.com", "active", "old-form"),
        ("b@example.com", "no_consent", ""),
    ]
