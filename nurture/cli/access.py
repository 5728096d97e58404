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
    "--location",
    "location_values",
    multiple=True,
    metavar="KEY",
    help="Keep an editor to this location's people and visits (repeat for several; "
    "none: every location).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting (for scripts).",
)
def staff_create(
    email: str, role: str, location_values: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a studio account that signs in at /studio."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.staff import audit
    from nurture.studio.auth import MIN_PASSWORD_LENGTH, StaffError, create_staff

    settings = load_settings()
    kept_to = _locations(role, location_values)
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
            staff.location_keys = kept_to
            after: dict[str, object] = {"role": role, "disabled": False}
            if kept_to is not None:
                after["locations"] = kept_to
            audit.record(
                session, staff=None, action="staff.create", target=staff.email, after=after
            )
            address = staff.email
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    where = f", kept to {', '.join(kept_to)}" if kept_to else ""
    click.echo(f"{address} ({role}{where}) can sign in at {settings.resolved_base_url}/studio")


def _locations(role: str, values: tuple[str, ...]) -> list[str] | None:
    """Return the location keys `--location` names (None: every location), or refuse."""
    from nurture.locations import service as locations

    if not values:
        return None
    if role == "admin":
        raise click.UsageError("admins see every location; --location is for editors")
    chosen: set[str] = set()
    for value in values:
        found = locations.match(value)
        if found is None:
            raise click.BadParameter(
                f"no location is called {value!r}; use one of: {', '.join(locations.keys())}",
                param_hint="--location",
            )
        chosen.add(found.key)
    # All of them: every location, including ones added later (as the studio does).
    return sorted(chosen) if len(chosen) < len(locations.keys()) else None


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
