"""The outbox: `nurture tick` (one dispatch pass), `nurture status`, `nurture outbox resolve`
and `nurture outbox settle`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from nurture.cli.common import load_settings
from nurture.core import dates

if TYPE_CHECKING:
    from nurture.delivery.stats import Snapshot


@click.group()
def outbox() -> None:
    """Outbox commands."""


@outbox.command("resolve")
@click.argument("message_id", type=int)
@click.option("--sent", "verdict", flag_value="sent", help="The provider had it: mark it sent.")
@click.option("--resend", "verdict", flag_value="resend", help="It never arrived: send again.")
def outbox_resolve(message_id: int, verdict: str | None) -> None:
    """Settle an email whose outcome is unknown (check the provider's activity first)."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.delivery import settle

    if verdict is None:
        raise click.UsageError("say --sent or --resend")
    load_settings()
    try:
        with session_scope() as session:
            message = settle.resolve_unknown(
                session, message_id=message_id, sent=verdict == "sent", now=clock.now()
            )
            click.echo(f"#{message.id} is now {message.status}")
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@outbox.command("settle")
@click.option("--sent", "verdict", flag_value="sent", help="The relay had them: mark them sent.")
@click.option(
    "--resend", "verdict", flag_value="resend", help="They never arrived: send them again."
)
@click.option("--id", "ids", type=int, multiple=True, help="Only this email (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask before settling.")
def outbox_settle(verdict: str | None, ids: tuple[int, ...], yes: bool) -> None:
    """List emails whose outcome is unknown; with --sent or --resend, settle them together.

    Look each one up by its Message-ID in the relay's log or queue first (see the docs).
    """
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.delivery import settle

    load_settings()
    with session_scope() as session:
        messages = settle.unknown_messages(session, ids=list(ids) or None)
        missing = sorted(set(ids) - {m.id for m in messages})
        if missing:
            listed = ", ".join(f"#{i}" for i in missing)
            raise click.ClickException(f"not unknown (or no such email): {listed}")
        if not messages:
            click.echo("no emails with an unknown outcome")
            return
        now = clock.now()
        click.echo(f"{len(messages)} email(s) with an unknown outcome:")
        for m in messages:
            since = _age((now - m.unknown_since).total_seconds()) if m.unknown_since else "-"
            click.echo(
                f"  #{m.id} unknown for {since}, Message-ID {m.provider_message_id or '-'}: "
                f"{m.subject or m.template or m.key}"
            )
            if m.last_error:
                click.echo(f"      {m.last_error[:200]}")
        if verdict is None:
            click.echo("settle them with --sent (the relay had them) or --resend (it did not)")
            return
        action = "mark as sent" if verdict == "sent" else "send again"
        if not yes:
            click.confirm(f"{action.capitalize()} these {len(messages)} email(s)?", abort=True)
        settled = settle.settle_unknown(
            session, message_ids=[m.id for m in messages], sent=verdict == "sent", now=now
        )
    click.echo(f"settled {len(settled)}: {action}")


@click.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Run as if the clock read this time.")
def tick(now_text: str | None) -> None:
    """Run one dispatch pass in this process and print what it sent."""
    from nurture.core import clock
    from nurture.delivery import service
    from nurture.delivery.channels.registry import get_backend

    load_settings()
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    moment = _parse_now(now_text) if now_text else clock.now()
    backend = get_backend()
    outcomes: list[service.Outcome] = []

    def deliver_all(ids: list[int]) -> None:
        outcomes.extend(service.deliver_batch(ids, backend=backend))

    with clock.frozen_at(moment):
        result = service.tick(dispatch=deliver_all)
    click.echo(f"tick at {moment.isoformat()}: {len(result.claimed)} due")
    for o in outcomes:
        line = f"  #{o.message_id} {o.status}"
        if o.subject:
            line += f": {o.subject}"
        if o.detail and o.status != "sent":
            line += f" ({o.detail})"
        click.echo(line)
    if result.released or result.unknown:
        click.echo(f"  released {result.released} abandoned claims, {result.unknown} now unknown")
    if result.stale:
        click.echo(f"  skipped {result.stale} stale (visit started, or a later reminder is due)")
    if result.journeys:
        click.echo(f"  started {result.journeys} journeys (lapsed or cancelled and not rebooked)")
    if result.broadcast_emails:
        click.echo(f"  planned {result.broadcast_emails} broadcast emails")


@click.command()
def status() -> None:
    """Print what is due, in flight, failed or unknown, and how old the backlog is."""
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.delivery.stats import snapshot

    settings = load_settings()
    now = clock.now()
    with session_scope() as session:
        snap = snapshot(session, now=now)
    s = snap.by_status
    age = snap.oldest_due_age_seconds
    click.echo(f"due now        {snap.due_now}")
    click.echo(f"in flight      {snap.in_flight}{_leases(snap, now)}")
    click.echo(f"pending later  {s.get('pending', 0) - snap.due_now}")
    click.echo(f"retrying       {snap.retrying}")
    click.echo(f"sent           {s.get('sent', 0)}")
    click.echo(f"failed         {s.get('failed', 0)}")
    click.echo(f"unknown        {s.get('unknown', 0)}")
    click.echo(f"oldest due     {_age(age) if age is not None else '-'}")
    if snap.degraded(settings.backlog_degraded_seconds):
        limit = _age(settings.backlog_degraded_seconds)
        click.echo(f"backlog        degraded: older than {limit} (is the email provider down?)")
    if s.get("unknown", 0):
        click.echo("               settle unknown emails with `nurture outbox settle`")
    if snap.last_tick_at is None:
        click.echo("last tick      never (is beat running?)")
    else:
        since = (now - snap.last_tick_at).total_seconds()
        took = f", took {snap.last_tick_seconds * 1000:.1f} ms" if snap.last_tick_seconds else ""
        click.echo(f"last tick      {_age(since)} ago{took}")


def _leases(snap: Snapshot, now: datetime) -> str:
    """Say when the leases of rows in flight run out, and what then becomes of them."""
    first, last = snap.lease_expires_first, snap.lease_expires_last
    if not snap.in_flight or first is None or last is None:
        return ""
    if last <= now:
        when = f"leases ended {_age((now - last).total_seconds())} ago, the next tick takes them"
    elif first <= now:
        when = f"some leases ended, the last ends in {_age((last - now).total_seconds())}"
    else:
        when = f"leases end in {_age((first - now).total_seconds())}"
        if last > first:
            when += f" to {_age((last - now).total_seconds())}"
    started = snap.in_flight_started
    return (
        f" ({when}; if their worker stopped, {snap.in_flight - started} go back to pending "
        f"and {started} become unknown)"
    )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not ISO-8601; try 2026-12-01T09:30:00+01:00", param_hint="--now"
        ) from exc
    try:
        return dates.check_moment(moment, naive_zone=UTC)
    except dates.DateError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc
