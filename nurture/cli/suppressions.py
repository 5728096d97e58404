"""`nurture suppressions`: addresses that must never be emailed."""

from __future__ import annotations

from pathlib import Path

import click

from nurture.cli.common import load_settings


@click.group()
def suppressions() -> None:
    """Suppression list commands."""


@suppressions.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def suppressions_import(path: Path) -> None:
    """Suppress the addresses in a CSV (columns: email, optional reason); all rows or none."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads import suppressions as sup

    load_settings()
    try:
        with session_scope() as session:
            result = sup.import_csv(session, path=path, now=clock.now())
    except sup.ImportError_ as exc:
        raise click.ClickException("nothing imported:\n" + "\n".join(exc.problems)) from exc
    click.echo(f"{result.added} addresses suppressed, {result.already} were already")


@suppressions.command("sync")
def suppressions_sync() -> None:
    """Copy SendGrid's bounce, spam report and unsubscribe lists into the suppression list."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads import suppressions as sup

    settings = load_settings()
    try:
        with session_scope() as session:
            result = sup.sync_from_sendgrid(session, settings=settings, now=clock.now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, count in result.by_list.items():
        click.echo(f"{name}: {count} addresses")
    click.echo(f"{result.added} newly suppressed, {result.already} were already")


@suppressions.command("add")
@click.argument("email")
@click.option("--reason", default="staff", show_default=True)
def suppressions_add(email: str, reason: str) -> None:
    """Suppress one address by hand."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads.schemas import normalise_email
    from nurture.leads.suppressions import REASONS, suppress

    load_settings()
    if reason not in REASONS:
        raise click.BadParameter(f"one of {', '.join(sorted(REASONS))}", param_hint="--reason")
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    with session_scope() as session:
        added = suppress(session, email=address, reason=reason, source="staff", now=clock.now())
    click.echo("suppressed" if added else "already suppressed")
