"""`nurture sequences`: load, export and migrate email sequences."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from pydantic import ValidationError

from nurture.cli.common import load_settings


@click.group()
def sequences() -> None:
    """Sequence commands."""


@sequences.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def sequences_load(path: Path) -> None:
    """Load sequence YAML files (a file or a folder); publish any that changed."""
    from nurture.core.db import session_scope
    from nurture.sequences import service

    load_settings()
    try:
        with session_scope() as session:
            results = service.load_path(session, path=path)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"nothing loaded: {exc}") from exc
    except yaml.YAMLError as exc:
        raise click.ClickException(f"nothing loaded: the file is not valid YAML: {exc}") from exc
    for r in results:
        state = (
            f"published version {r.version}" if r.changed else f"unchanged (version {r.version})"
        )
        click.echo(f"{r.slug}: {state}")


@sequences.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def sequences_export(folder: Path) -> None:
    """Write every live sequence as YAML (the format `load` reads), e.g. to keep them in git."""
    from nurture.core.db import session_scope
    from nurture.sequences.export import export_all

    load_settings()
    with session_scope() as session:
        files = export_all(session, folder=folder)
    for path in files:
        click.echo(f"wrote {path}")


@sequences.command("migrate")
@click.argument("slug")
@click.option("--to", "to_number", type=int, help="Target version (default: the live one).")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW", help="Map a step key.")
def sequences_migrate(slug: str, to_number: int | None, pairs: tuple[str, ...]) -> None:
    """Move a sequence's active enrollments onto another version, mapping steps by key."""
    from sqlalchemy import select

    from nurture.core.db import session_scope
    from nurture.enrollments import service as enrollments
    from nurture.sequences import service as seqs
    from nurture.sequences.models import Sequence, SequenceVersion

    load_settings()
    step_map = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise click.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--map")
        step_map[old] = new
    try:
        with session_scope() as session:
            sequence = session.scalar(select(Sequence).where(Sequence.slug == slug))
            if sequence is None:
                raise click.ClickException(f"no sequence {slug!r}")
            if to_number is None:
                target = seqs.live_version(session, sequence.id)
            else:
                target = session.scalar(
                    select(SequenceVersion).where(
                        SequenceVersion.sequence_id == sequence.id,
                        SequenceVersion.number == to_number,
                    )
                )
            if target is None:
                raise click.ClickException(f"{slug} has no such version")
            report = enrollments.migrate_version(session, to_version=target, step_map=step_map)
    except ValueError as exc:
        raise click.ClickException(f"nothing moved: {exc}") from exc
    click.echo(f"{slug}: moved {report.moved} enrollments to version {target.number}")
    if report.waiting:
        click.echo(f"{report.waiting} have an email in flight; run this again in a minute")
