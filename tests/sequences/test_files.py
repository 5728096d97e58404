"""Sequences as files: export and load round-trip losslessly, so they can live in git."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.sequences.checks import spec_problems
from nurture.sequences.files import read_sequence_file, sequence_files
from nurture.sequences.models import Sequence


def test_export_then_load_is_lossless_and_edits_publish(tmp_path: Path, sequences_loaded) -> None:
    out = tmp_path / "sequences"
    exported = CliRunner().invoke(main, ["sequences", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    chronic = out / "chronic-basics.yml"
    text = chronic.read_text()
    assert "html: |" in text  # bodies stay readable in review
    loaded = CliRunner().invoke(main, ["sequences", "load", str(out)])
    assert loaded.exit_code == 0, loaded.output
    assert "published" not in loaded.output
    assert loaded.output.count("unchanged") == len(list(out.glob("*.yml")))
    chronic.write_text(text.replace("A quick anatomy lesson", "A short anatomy lesson"))
    edited = CliRunner().invoke(main, ["sequences", "load", str(chronic)])
    assert "chronic-basics: published version 2" in edited.output


def test_load_refuses_a_broken_file_and_changes_nothing(tmp_path: Path, sequences_loaded) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("slug: Not A Slug\nname: x\naudience: acute\nsteps: []\n")
    result = CliRunner().invoke(main, ["sequences", "load", str(bad)])
    assert result.exit_code == 1
    assert "nothing loaded" in result.output
    assert "slug" in result.output


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>{{ 7**(10**7) }}</p>", "line 1: the template computes a number too large"),
        (
            "<p>Hi</p>\n{% if not first_name %}{% for i in range(8) %}{{ 'x' * 250000 }}"
            "{% endfor %}{% endif %}",
            "line 2: the template writes more than 256 KiB (for a lead with an empty first name)",
        ),
    ],
)
def test_load_refuses_a_template_past_the_limits_and_changes_nothing(
    tmp_path: Path, session, sequences_loaded, html: str, expected: str
) -> None:
    spec = read_sequence_file(get_settings().templates_dir / "sequences" / "chronic.yml")
    data = spec.model_dump(mode="json")
    data["steps"][1]["html"] = html
    path = tmp_path / "chronic.yml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["sequences", "load", str(path)])
    assert result.exit_code == 1
    assert "nothing loaded: chronic.yml: step 2" in result.output
    assert expected in result.output
    session.expire_all()
    sequence = session.scalar(select(Sequence).where(Sequence.slug == spec.slug))
    assert [v.number for v in sequence.versions] == [1]


def test_every_shipped_sequence_passes_the_checks_load_runs() -> None:
    for path in sequence_files(get_settings().templates_dir / "sequences"):
        assert spec_problems(read_sequence_file(path)) == [], path.name
