"""`nurture leads` (import, export, purge) and `nurture consent` (the consent records)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from nurture.cli.common import load_settings


@click.group()
def leads() -> None:
    """Lead commands."""


@leads.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leads_import(path: Path) -> None:
    """Import leads from CSV (email, first_name, numbness_type, timezone, consent_at,
    consent_source); rows with consent are enrolled, bad rows stop the whole import."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads.imports import LeadImportError, import_csv

    load_settings()
    started = time.perf_counter()
    try:
        with session_scope() as session:
            report = import_csv(session, path=path, now=clock.now())
    except LeadImportError as exc:
        shown = exc.problems[:50]
        more = f"\n... and {len(exc.problems) - 50} more" if len(exc.problems) > 50 else ""
        raise click.ClickException("nothing imported:\n" + "\n".join(shown) + more) from exc
    click.echo(
        f"{report.created} leads imported ({report.consented} with consent, "
        f"{report.enrolled} enrolled), {report.already_known} already known; "
        f"{time.perf_counter() - started:.1f} s"
    )


@leads.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def leads_export(path: Path) -> None:
    """Write every lead as CSV: the import columns plus status."""
    from nurture.core.db import session_scope
    from nurture.leads.imports import export_csv

    load_settings()
    with session_scope() as session, path.open("w", newline="", encoding="utf-8") as fh:
        count = export_csv(session, fh)
    click.echo(f"{count} leads written to {path}")


@leads.command("purge")
def leads_purge() -> None:
    """Delete leads that never confirmed within NURTURE_PURGE_UNCONFIRMED_DAYS."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads import erasure as service

    settings = load_settings()
    with session_scope() as session:
        count = service.purge_unconfirmed(
            session, now=clock.now(), days=settings.purge_unconfirmed_days
        )
    click.echo(f"{count} unconfirmed leads deleted")


@click.group()
def consent() -> None:
    """Consent records."""


@consent.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def consent_export(path: Path) -> None:
    """Write every consent record to a CSV file (for staff and auditors)."""
    from nurture.core.db import session_scope
    from nurture.leads.consent import write_csv

    load_settings()
    with session_scope() as session, path.open("w", newline="", encoding="utf-8") as fh:
        count = write_csv(session, fh)
    click.echo(f"{count} consent records written to {path}")
