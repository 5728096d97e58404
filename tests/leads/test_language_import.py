"""The leads file carries a language: an optional column in, a column out."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.leads.models import Lead


def test_leads_import_reads_an_optional_language_and_export_writes_it(
    tmp_path: Path, session
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,numbness_type,language\na@example.com,chronic,es-US\nb@example.com,acute,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert dict(session.execute(select(Lead.email, Lead.language)).all()) == {
        "a@example.com": "es",
        "b@example.com": "en",
    }
    out = tmp_path / "export.csv"
    assert CliRunner().invoke(main, ["leads", "export", str(out)]).exit_code == 0
    assert [r["language"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["es", "en"]
    path.write_text("email,numbness_type,language\nc@example.com,chronic,elvish\n")
    refused = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert refused.exit_code == 1
    assert "line 2" in refused.output
    assert "language" in refused.output
