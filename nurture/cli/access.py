"""Who may get in: `nurture staff` (studio accounts) and `nurture tokens` (API tokens)."""

from __future__ import annotations

import sys

import click

from nurture.cli.common import load_settings


@click.group("staff")
def staff_group() -> None:
    """Studio accounts for clinic staff."""


@staff_group.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["admin", "editor"]),
    default="editor",
    show_default=True,
    help="Editors work on sequences, leads and the outbox; admins also manage staff and data.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting (for scripts).",
)
def staff_create(email: str, role: str, password_stdin: bool) -> None:
    """Create a studio account that signs in at /studio."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.staff import audit
    from nurture.studio.auth import MIN_PASSWORD_LENGTH, StaffError, create_staff

    settings = load_settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    try:
        with session_scope() as session:
            staff = create_staff(
                session, email=email, password=password, role=role, now=clock.now()
            )
            audit.record(
                session,
                staff=None,
                action="staff.create",
                target=staff.email,
                after={"role": role, "disabled": False},
            )
            address = staff.email
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{address} ({role}) can sign in at {settings.resolved_base_url}/studio")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for the clinic's booking systems."""


@tokens_group.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create an API token; it is shown once, so store it now."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.staff import tokens

    load_settings()
    try:
        with session_scope() as session:
            token = tokens.create(session, name=name, now=clock.now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)
    click.echo(f"Token {name!r} created. It is not stored in readable form: keep it now.", err=True)


@tokens_group.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke an API token."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.staff import tokens

    load_settings()
    try:
        with session_scope() as session:
            tokens.revoke(session, name=name, now=clock.now())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Token {name!r} revoked.")
