"""`nurture locations`: the clinic's sites (add, list, remove)."""

from __future__ import annotations

import click

from nurture.cli.common import load_settings


@click.group()
def locations() -> None:
    """The clinic's locations (sites where patients visit)."""


@locations.command("add")
@click.argument("key")
@click.option("--name", required=True, help="What patients call the site.")
@click.option("--address", required=True, help="Postal address.")
@click.option("--phone", required=True, help="Phone number, with the country code.")
@click.option("--timezone", "zone", required=True, help="Time zone, e.g. America/Chicago.")
@click.option("--booking-url", default="", help="Booking page (default: the clinic's).")
@click.option("--review-url", default="", help="Review page (default: the clinic's).")
def locations_add(
    key: str,
    name: str,
    address: str,
    phone: str,
    zone: str,
    booking_url: str,
    review_url: str,
) -> None:
    """Add a location KEY (used in links: ?location=KEY)."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.locations import edit, service
    from nurture.staff import audit

    load_settings()
    form = {
        "name": name,
        "address": address,
        "phone": phone,
        "timezone": zone,
        "booking_url": booking_url,
        "review_url": review_url,
    }
    values, errors = edit.parse(form)
    if "timezone" in errors:  # the studio names its list of cities; a shell has none
        errors["timezone"] = (
            f"--timezone: {zone!r} is not a time zone; give one like America/Chicago."
        )
    if errors:
        raise click.ClickException("nothing added:\n" + "\n".join(errors.values()))
    now = clock.now()
    try:
        with session_scope() as session:
            row = edit.add(session, key, values, now=now)
            audit.record(
                session, staff=None, action="location.add", target=key, after=row.as_dict(), at=now
            )
    except ValueError as exc:
        raise click.ClickException(f"nothing added: {exc}") from exc
    service.invalidate()
    click.echo(f"added location {key}")


@locations.command("list")
def locations_list() -> None:
    """List the locations, the default first."""
    from nurture.core.db import session_scope
    from nurture.locations import service

    load_settings()
    service.invalidate()
    with session_scope() as session:
        for site in service.sites():
            visits, leads = service.usage(session, site.key)
            click.echo(
                f"{site.key}\t{site.name}\t{site.address}\t{site.phone}\t{site.timezone}"
                f"\t{visits} visits\t{leads} leads"
            )


@locations.command("remove")
@click.argument("key")
def locations_remove(key: str) -> None:
    """Remove location KEY; refused while visits or leads use it."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.locations import edit, service
    from nurture.staff import audit

    load_settings()
    try:
        with session_scope() as session:
            row = edit.remove(session, key)
            audit.record(
                session,
                staff=None,
                action="location.remove",
                target=key,
                before=row.as_dict(),
                at=clock.now(),
            )
    except ValueError as exc:
        raise click.ClickException(f"not removed: {exc}") from exc
    service.invalidate()
    click.echo(f"removed location {key}")
