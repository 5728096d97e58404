"""`nurture db`: the database schema."""

from __future__ import annotations

import click

from nurture.cli.common import load_settings, redact


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply database migrations."""
    from nurture.core.migrate import upgrade

    settings = load_settings()
    click.echo(f"Migrating {redact(settings.resolved_database_url)} to {revision}...")
    upgrade(revision)
    click.echo("Database is up to date.")
