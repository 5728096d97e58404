"""Sequences as files: export and load round-trip losslessly, so they can live in git."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nurture.cli import main


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
    chronic.write_text(text.replace("The longest nerve in your body", "Meet your longest nerve"))
    edited = CliRunner().invoke(main, ["sequences", "load", str(chronic)])
    assert "chronic-basics: published version 2" in edited.output


def test_load_refuses_a_broken_file_and_changes_nothing(tmp_path: Path, sequences_loaded) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("slug: Not A Slug\nname: x\naudience: acute\nsteps: []\n")
    result = CliRunner().invoke(main, ["sequences", "load", str(bad)])
    assert result.exit_code == 1
    assert "nothing loaded" in result.output
    assert "slug" in result.output
