"""The `nurture` command line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
from pydantic import ValidationError

from nurture.config import Settings, get_settings, reset_settings
from nurture.keyfile import KeyFileError


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from exc


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
@click.version_option(package_name="nurture")
def main() -> None:
    """Nurture: turn landing-page signups into booked, kept appointments."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply database migrations."""
    from nurture.migrate import upgrade

    settings = _settings()
    click.echo(f"Migrating {_redact(settings.resolved_database_url)} to {revision}...")
    upgrade(revision)
    click.echo("Database is up to date.")


@main.group()
def sequences() -> None:
    """Sequence commands."""


@sequences.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def sequences_load(path: Path) -> None:
    """Load sequence YAML files (a file or a folder); publish any that changed."""
    from nurture.db import session_scope
    from nurture.sequences import service

    _settings()
    try:
        with session_scope() as session:
            results = service.load_path(session, path=path)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"nothing loaded: {exc}") from exc
    for r in results:
        state = (
            f"published version {r.version}" if r.changed else f"unchanged (version {r.version})"
        )
        click.echo(f"{r.slug}: {state}")


@sequences.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def sequences_export(folder: Path) -> None:
    """Write every live sequence as YAML (the format `load` reads), e.g. to keep them in git."""
    from nurture.db import session_scope
    from nurture.sequences.export import export_all

    _settings()
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

    from nurture.db import session_scope
    from nurture.enrollments import service as enrollments
    from nurture.sequences import service as seqs
    from nurture.sequences.models import Sequence, SequenceVersion

    _settings()
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


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Run as if the clock read this time.")
def tick(now_text: str | None) -> None:
    """Run one dispatch pass in this process and print what it sent."""
    from nurture import clock
    from nurture.delivery import service
    from nurture.delivery.backends import get_backend

    _settings()
    _logging("WARNING")
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


@main.group()
def outbox() -> None:
    """Outbox commands."""


@outbox.command("resolve")
@click.argument("message_id", type=int)
@click.option("--sent", "verdict", flag_value="sent", help="The provider had it: mark it sent.")
@click.option("--resend", "verdict", flag_value="resend", help="It never arrived: send again.")
def outbox_resolve(message_id: int, verdict: str | None) -> None:
    """Settle an email whose outcome is unknown (check the provider's activity first)."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery import service

    if verdict is None:
        raise click.UsageError("say --sent or --resend")
    _settings()
    try:
        with session_scope() as session:
            message = service.resolve_unknown(
                session, message_id=message_id, sent=verdict == "sent", now=clock.now()
            )
            click.echo(f"#{message.id} is now {message.status}")
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def consent() -> None:
    """Consent records."""


@consent.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def consent_export(path: Path) -> None:
    """Write every consent record to a CSV file (for staff and auditors)."""
    from nurture.db import session_scope
    from nurture.leads.consent import write_csv

    _settings()
    with session_scope() as session, path.open("w", newline="", encoding="utf-8") as fh:
        count = write_csv(session, fh)
    click.echo(f"{count} consent records written to {path}")


@main.group()
def leads() -> None:
    """Lead commands."""


@leads.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leads_import(path: Path) -> None:
    """Import leads from CSV (email, first_name, numbness_type, timezone, consent_at,
    consent_source); rows with consent are enrolled, bad rows stop the whole import."""
    import time

    from nurture import clock
    from nurture.db import session_scope
    from nurture.leads.imports import LeadImportError, import_csv

    _settings()
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
    from nurture.db import session_scope
    from nurture.leads.imports import export_csv

    _settings()
    with session_scope() as session, path.open("w", newline="", encoding="utf-8") as fh:
        count = export_csv(session, fh)
    click.echo(f"{count} leads written to {path}")


@leads.command("purge")
def leads_purge() -> None:
    """Delete leads that never confirmed within NURTURE_PURGE_UNCONFIRMED_DAYS."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.leads import service

    settings = _settings()
    with session_scope() as session:
        count = service.purge_unconfirmed(
            session, now=clock.now(), days=settings.purge_unconfirmed_days
        )
    click.echo(f"{count} unconfirmed leads deleted")


@main.group()
def visits() -> None:
    """Visits from the clinic's practice software."""


@visits.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def visits_import(path: Path) -> None:
    """Import visits from CSV (external_id, email, first_name, starts_at, timezone,
    duration_minutes, location, status); idempotent by external_id, all rows or none."""
    from nurture import clock
    from nurture.appointments.imports import VisitImportError, import_csv
    from nurture.db import session_scope

    _settings()

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


@main.group("staff")
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
    from nurture import clock
    from nurture.db import session_scope
    from nurture.studio import audit
    from nurture.studio.auth import MIN_PASSWORD_LENGTH, StaffError, create_staff

    settings = _settings()
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


@main.group("tokens")
def tokens_group() -> None:
    """API tokens for the clinic's booking systems."""


@tokens_group.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create an API token; it is shown once, so store it now."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.studio import tokens

    _settings()
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
    from nurture import clock
    from nurture.db import session_scope
    from nurture.studio import tokens

    _settings()
    try:
        with session_scope() as session:
            tokens.revoke(session, name=name, now=clock.now())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Token {name!r} revoked.")


@main.group()
def suppressions() -> None:
    """Suppression list commands."""


@suppressions.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def suppressions_import(path: Path) -> None:
    """Suppress the addresses in a CSV (columns: email, optional reason); all rows or none."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery import suppressions as sup

    _settings()
    try:
        with session_scope() as session:
            result = sup.import_csv(session, path=path, now=clock.now())
    except sup.ImportError_ as exc:
        raise click.ClickException("nothing imported:\n" + "\n".join(exc.problems)) from exc
    click.echo(f"{result.added} addresses suppressed, {result.already} were already")


@suppressions.command("sync")
def suppressions_sync() -> None:
    """Copy SendGrid's bounce, spam report and unsubscribe lists into the suppression list."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery import suppressions as sup

    settings = _settings()
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
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery.events import suppress
    from nurture.delivery.suppressions import REASONS
    from nurture.leads.schemas import normalise_email

    _settings()
    if reason not in REASONS:
        raise click.BadParameter(f"one of {', '.join(sorted(REASONS))}", param_hint="--reason")
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    with session_scope() as session:
        added = suppress(session, email=address, reason=reason, source="staff", now=clock.now())
    click.echo("suppressed" if added else "already suppressed")


@main.command()
def doctor() -> None:
    """Check a configuration before going live; exits 1 if anything must be fixed."""
    from nurture.doctor import run_checks

    results = run_checks(_settings())
    for check in results:
        mark = {"ok": "ok  ", "fail": "FAIL", "note": "note"}[check.level]
        click.echo(f"[{mark}] {check.message}")
    failures = sum(1 for c in results if c.level == "fail")
    if failures:
        raise click.ClickException(f"{failures} problem(s) to fix before going live")
    click.echo("Ready to go live.")


@main.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--screenshots/--no-screenshots",
    default=True,
    show_default=True,
    help="Also save PNGs at phone and desktop width (needs Chromium).",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="TEXT",
    help="Only emails whose name contains TEXT (repeatable), e.g. --only goodbye.",
)
def preview(out: Path, screenshots: bool, only: tuple[str, ...]) -> None:
    """Render every shipped email for sample leads into a gallery folder."""
    from nurture.rendering.preview import all_samples, problems, write_gallery
    from nurture.rendering.screenshots import require_browser

    settings = _settings()
    if screenshots:
        try:
            require_browser()  # before any work, so nothing is left half done
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
    samples = [s for s in all_samples() if not only or any(part in s.name for part in only)]
    if not samples:
        raise click.ClickException(f"no email's name contains {' or '.join(only)}")
    pages = write_gallery(out, samples)
    click.echo(f"Wrote {len(samples)} emails to {out}/ (open index.html)")
    https = settings.resolved_base_url.startswith("https")
    for sample in samples:
        for problem in problems(sample, require_https=https):
            click.echo(f"  warning: {sample.name}: {problem}", err=True)
    if screenshots:
        from nurture.rendering.screenshots import screenshot_pages

        names = {page: sample.name for page, sample in zip(pages, samples, strict=True)}
        too_wide: list[str] = []
        try:
            shots = screenshot_pages(
                pages,
                widths={"phone": 390, "dark": 390, "desktop": 800},
                dark=frozenset({"dark"}),
            )
            for done, page, measured in shots:
                click.echo(f"  [{done}/{len(pages)}] {page.name}")
                too_wide += [
                    f"  {names[page]}: {s.content_width} px wide, wider than the {s.label} "
                    f"screen ({s.viewport} px)"
                    for s in measured
                    if s.too_wide
                ]
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        if too_wide:
            # Part of the email is cut off or needs sideways scrolling on that screen.
            raise click.ClickException(
                f"{len(too_wide)} screenshot(s) wider than the screen:\n" + "\n".join(too_wide)
            )


@main.command()
def status() -> None:
    """Print what is due, in flight, failed or unknown, and how old the backlog is."""
    from nurture import clock
    from nurture.db import session_scope
    from nurture.delivery.stats import snapshot

    _settings()
    now = clock.now()
    with session_scope() as session:
        snap = snapshot(session, now=now)
    s = snap.by_status
    age = snap.oldest_due_age_seconds
    click.echo(f"due now        {snap.due_now}")
    click.echo(f"in flight      {s.get('sending', 0)}")
    click.echo(f"pending later  {s.get('pending', 0) - snap.due_now}")
    click.echo(f"sent           {s.get('sent', 0)}")
    click.echo(f"failed         {s.get('failed', 0)}")
    click.echo(f"unknown        {s.get('unknown', 0)}")
    click.echo(f"oldest due     {_age(age) if age is not None else '-'}")
    if snap.last_tick_at is None:
        click.echo("last tick      never (is beat running?)")
    else:
        since = (now - snap.last_tick_at).total_seconds()
        took = f", took {snap.last_tick_seconds * 1000:.1f} ms" if snap.last_tick_seconds else ""
        click.echo(f"last tick      {_age(since)} ago{took}")


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
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def web(host: str, port: int, workers: int) -> None:
    """Serve the web app (landing page, API, outbox)."""
    import uvicorn

    _settings()
    uvicorn.run(
        "nurture.web:create_app",
        factory=True,
        host=host,
        port=port,
        proxy_headers=True,
        workers=workers,
        log_level="warning" if workers > 1 else "info",
    )


@main.command()
@click.option("--pool", default=None, help="Celery pool (prefork, threads, solo).")
@click.option("--concurrency", "-c", default=None, type=int)
def worker(pool: str | None, concurrency: int | None) -> None:
    """Run a Celery worker that sends due emails."""
    from nurture.celery_app import app

    settings = _settings()
    embedded = settings.resolved_broker_url.startswith("filesystem")
    argv = ["worker", "--loglevel=INFO", f"--pool={pool or ('threads' if embedded else 'prefork')}"]
    argv.append(f"--concurrency={concurrency or (4 if embedded else os.cpu_count() or 2)}")
    if embedded:
        argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    app.worker_main(argv)


@main.command()
def beat() -> None:
    """Run Celery beat: the clock that starts a tick every NURTURE_TICK_SECONDS."""
    from nurture.celery_app import app

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel=INFO"])


@main.command()
def setup() -> None:
    """Migrate the database and load the default sequences if there are none yet."""
    _prepare(_settings())


@main.command()
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
def flower(port: int, address: str) -> None:
    """Run Flower, Celery's monitoring UI, against the configured broker."""
    from nurture.celery_app import app

    _settings()
    app.start(["flower", f"--port={port}", f"--address={address}"])


def _prepare(settings: Settings) -> None:
    from nurture.db import session_scope
    from nurture.migrate import upgrade
    from nurture.sequences import service

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # Generated here, once, before `up` starts web, worker and beat (they would agree anyway).
        _ = settings.resolved_secret_key
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"[1/3] Migrating {_redact(settings.resolved_database_url)}")
    upgrade()
    with session_scope() as session:
        if service.has_sequences(session):
            click.echo("[2/3] Sequences already loaded")
            return
        folder = settings.templates_dir / "sequences"
        click.echo(f"[2/3] Loading default sequences from {folder}")
        for r in service.load_path(session, path=folder):
            click.echo(f"      {r.slug} (version {r.version})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def up(host: str, port: int) -> None:
    """Migrate, load default sequences, and run web, worker and beat together."""
    served = None if os.environ.get("NURTURE_BASE_URL") else f"http://{host}:{port}"
    if served is not None:
        os.environ["NURTURE_BASE_URL"] = served
        reset_settings()
    settings = _settings()
    _check_port_free(host, port)
    _prepare(settings)
    if served is not None:
        from nurture.served_url import record

        # Commands run beside this one (tick, staff create) print links to this port too.
        record(settings.data_dir, served)
    click.echo("[3/3] Starting web, worker and beat")
    me = [sys.executable, "-m", "nurture"]
    children = {
        "web": subprocess.Popen([*me, "web", "--host", host, "--port", str(port)]),
        "worker": subprocess.Popen([*me, "worker"]),
        "beat": subprocess.Popen([*me, "beat"]),
    }
    _announce(settings, host, port)
    _supervise(children)


def _announce(settings: Settings, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    backend = settings.resolved_email_backend
    click.echo("")
    click.echo(f"  Nurture is running at {base}/")
    click.echo(f"  Landing page   {base}/")
    if backend == "outbox":
        click.echo(
            f"  Outbox         {base}/outbox  (emails also in {settings.resolved_outbox_dir})"
        )
    click.echo(
        f"  Studio         {base}/studio  "
        "(make an account: nurture staff create you@clinic.example --role admin)"
    )
    click.echo(f"  API docs       {base}/docs")
    click.echo(f"  Database       {_redact(settings.resolved_database_url)}")
    click.echo(f"  Broker         {_redact(settings.resolved_broker_url)}")
    click.echo(f"  Email backend  {backend}")
    click.echo("  Press Ctrl-C to stop.")
    click.echo("", nl=True)


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> None:
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(
                    f"{name} exited with code {child.returncode}; stopping the rest.", err=True
                )
                exit_code = 1
                stopping = True
                break
        time.sleep(0.3)
    click.echo("Stopping...")
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    click.echo("Stopped.")
    sys.exit(exit_code)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"port {port} on {host} is in use ({exc.strerror}); "
                f"try `nurture up --port {port + 1}`"
            ) from exc


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
