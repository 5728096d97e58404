"""The leads file names each person's location, and imports back into the same sites."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import delete, select

from nurture.cli import main
from nurture.leads.models import Lead


def test_the_leads_export_names_the_location_and_imports_back(
    tmp_path: Path, session, two_sites
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,numbness_type,location\n"
        "n@example.com,chronic,North Clinic\n"
        "s@example.com,acute,south\n"
        "m@example.com,unsure,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["leads", "import", str(path)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "export.csv"
    assert CliRunner().invoke(main, ["leads", "export", str(out)]).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["email"]: r["location"] for r in rows} == {
        "n@example.com": "north",
        "s@example.com": "south",
        "m@example.com": "",
    }
    session.execute(delete(Lead))
    session.commit()
    again = CliRunner().invoke(main, ["leads", "import", str(out)])
    assert again.exit_code == 0, again.output
    session.expire_all()
    assert dict(session.execute(select(Lead.email, Lead.location_key)).all()) == {
        "n@example.com": "north",
        "s@example.com": "south",
        "m@example.com": None,
    }
