"""`nurture visits`: visits exported from the clinic's practice software."""

from __future__ import annotations

from pathlib import Path

import click

from nurture.cli.common import load_settings


@click.group()
def visits() -> None:
    """Visits from the clinic's practice software."""


@visits.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def visits_import(path: Path) -> None:
    """Import visits from CSV (external_id, email, first_name, starts_at, timezone,
    duration_minutes, location, status); idempotent by external_id, all rows or none."""
    from nurture.appointments.imports import VisitImportError, import_csv
    from nurture.core import clock
    from nurture.core.db import session_scope

    load_settings()

    def progress(stage: str, done: int) -> None:
        click.echo(f"{stage} {done:,} rows", err=True)

    try:
        with session_scope() as session:
            report = import_csv(session, path=path, now=clock.now(), progress=progress)
    except VisitImportError as exc:
        shown = exc.problems[:50]
        more = f"\n... and {len(exc.problems) - 50} more" if len(exc.problems) > 50 else ""
        raise click.ClickException("nothing imported:\n" + "\n".join(shown) + more) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    click.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.cancelled} cancelled; {report.reminders_planned} reminders and "
        f"{report.notices_planned} notices planned"
    )
    if report.journeys_started:
        click.echo(
            f"{report.journeys_started} recent visit(s) attended or missed started their journeys"
        )
