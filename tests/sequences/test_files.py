"""Sequences as files: export and load round-trip losslessly, so they can live in git."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.sequences.checks import spec_problems
from nurture.sequences.files import MAX_FILE_BYTES, read_sequence_file, sequence_files
from nurture.sequences.models import Sequence
from tests.processes import child_env


def test_export_then_load_is_lossless_and_edits_publish(tmp_path: Path, sequences_loaded) -> None:
    out = tmp_path / "sequences"
    exported = CliRunner().invoke(main, ["sequences", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    chronic = out / "chronic-basics.yml"
    text = chronic.read_text()
    assert "markdown: |" in text  # bodies stay readable in review
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
    data["steps"][1]["html"], data["steps"][1]["markdown"] = html, None  # a step in HTML
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


def _laughs(levels: int) -> str:
    """A sequence file whose name is ten nested levels of YAML aliases (a 'billion laughs')."""
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join([*lines, f"slug: laughs\nname: *a{levels}\naudience: acute\nsteps: []\n"])


def _limit_memory() -> None:
    # Before aliases were refused this file took the CLI past any memory; cap it at 1 GiB so
    # that a regression fails the test instead of the machine.
    resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))


def test_load_refuses_yaml_aliases_before_expanding_them(tmp_path: Path, sequences_loaded) -> None:
    bomb = tmp_path / "laughs.yml"
    bomb.write_text(_laughs(10))
    assert bomb.stat().st_size < 1024
    result = subprocess.run(  # the CLI as its own process, as an operator runs it
        [sys.executable, "-m", "nurture", "sequences", "load", str(bomb)],
        env=child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "nothing loaded: laughs.yml: line 1: anchors and aliases" in result.stderr
    assert "lol" not in result.stdout + result.stderr  # the expansion is never printed
    assert len(result.stderr) < 500


def test_load_refuses_a_file_larger_than_any_sequence(tmp_path: Path, sequences_loaded) -> None:
    big = tmp_path / "big.yml"
    big.write_text("slug: big\nname: x\naudience: acute\nsteps: []\n#" + "x" * MAX_FILE_BYTES)
    result = CliRunner().invoke(main, ["sequences", "load", str(big)])
    assert result.exit_code == 1
    assert "nothing loaded: big.yml: the file is larger than 2 MiB" in result.output
