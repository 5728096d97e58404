"""`nurture setup` (migrate, load default sequences) and `nurture up` (that, then run it all)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import click

from nurture.cli.common import load_settings, redact
from nurture.core.config import Settings, reset_settings
from nurture.core.keyfile import KeyFileError
from nurture.core.private_files import private_dir


@click.command()
def setup() -> None:
    """Migrate the database and load the default sequences if there are none yet."""
    _prepare(load_settings(), steps=2)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def up(host: str, port: int) -> None:
    """Migrate, load default sequences, and run web, worker and beat together."""
    served = None if os.environ.get("NURTURE_BASE_URL") else f"http://{host}:{port}"
    if served is not None:
        os.environ["NURTURE_BASE_URL"] = served
        reset_settings()
    settings = load_settings()
    _check_port_free(host, port)
    _prepare(settings, steps=3)
    if served is not None:
        from nurture.core.served_url import record

        # Commands run beside this one (tick, staff create) print links to this port too.
        record(settings.data_dir, served)
    click.echo("[3/3] Starting web, worker and beat")
    # Listen for Ctrl-C / SIGTERM before any child starts: a stop that arrives while the web
    # server is still coming up must stop everything cleanly, not kill this process mid-start.
    stop = _StopRequest()
    me = [sys.executable, "-m", "nurture"]
    children = {
        "web": subprocess.Popen([*me, "web", "--host", host, "--port", str(port)]),
        "worker": subprocess.Popen([*me, "worker"]),
        "beat": subprocess.Popen([*me, "beat"]),
    }
    if not _wait_until_listening(host, port, children, stop):
        if not stop.requested:
            click.echo("web, worker or beat stopped while starting; stopping the rest.", err=True)
            _supervise(children, stop, failed=True)
    if not stop.requested:
        _announce(settings, host, port)
    _supervise(children, stop)


class _StopRequest:
    """Set by SIGINT or SIGTERM; the supervisor loops read it."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def _wait_until_listening(
    host: str, port: int, children: dict[str, subprocess.Popen[bytes]], stop: _StopRequest
) -> bool:
    """Wait until the web server accepts connections; False if a child stopped first."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    while not stop.requested and all(child.poll() is None for child in children.values()):
        try:
            with socket.create_connection((target, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _prepare(settings: Settings, *, steps: int) -> None:
    """Migrate and load the default sequences: steps 1 and 2 of `steps` (`up` has a third)."""
    from nurture.core.db import session_scope
    from nurture.core.migrate import upgrade
    from nurture.sequences import service

    private_dir(settings.data_dir)
    try:
        # Generated here, once, before `up` starts web, worker and beat (they would agree anyway).
        _ = settings.resolved_secret_key
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"[1/{steps}] Migrating {redact(settings.resolved_database_url)}")
    upgrade()
    with session_scope() as session:
        if service.has_sequences(session):
            click.echo(f"[2/{steps}] Sequences already loaded")
            return
        folder = settings.templates_dir / "sequences"
        click.echo(f"[2/{steps}] Loading default sequences from {folder}")
        for r in service.load_path(session, path=folder):
            click.echo(f"      {r.slug} (version {r.version})")


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
    click.echo(f"  Database       {redact(settings.resolved_database_url)}")
    click.echo(f"  Broker         {redact(settings.resolved_broker_url)}")
    click.echo(f"  Email backend  {backend}")
    click.echo("  Press Ctrl-C to stop.")
    click.echo("", nl=True)


def _supervise(
    children: dict[str, subprocess.Popen[bytes]], stop: _StopRequest, *, failed: bool = False
) -> None:
    exit_code = 1 if failed else 0
    while not failed and not stop.requested:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(
                    f"{name} exited with code {child.returncode}; stopping the rest.", err=True
                )
                exit_code = 1
                failed = True
                break
        else:
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
