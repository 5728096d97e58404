"""One long-running process each: `nurture web`, `worker`, `beat` and `flower`."""

from __future__ import annotations

import logging

import click

from nurture.cli.common import load_settings
from nurture.core.config import Settings
from nurture.core.logs import configure as configure_logs
from nurture.core.logs import route_celery_prints
from nurture.core.private_files import private_dir


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def web(host: str, port: int, workers: int) -> None:
    """Serve the web app (landing page, API, outbox)."""
    import uvicorn

    from nurture.core.logs import logging_config

    settings = load_settings()
    level = "WARNING" if workers > 1 else "INFO"
    logging.captureWarnings(True)  # warnings are log events, in the same format
    uvicorn.run(
        "nurture.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        # Client address and scheme come from X-Forwarded-* only when a trusted proxy sent them.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        workers=workers,
        log_config=logging_config(settings.log_format, level),
        log_level=level.lower(),
    )


@click.command()
@click.option("--pool", default=None, help="Celery pool (prefork, threads, solo).")
@click.option(
    "--concurrency",
    "-c",
    default=None,
    type=int,
    help="Worker processes (threads on the embedded broker); default NURTURE_WORKER_CONCURRENCY.",
)
def worker(pool: str | None, concurrency: int | None) -> None:
    """Run a Celery worker that sends due emails."""
    from nurture.celery_app import app

    settings = load_settings()
    configure_logs(settings.log_format)  # before Celery starts: its early warnings too
    route_celery_prints()
    embedded = settings.resolved_broker_url.startswith("filesystem")
    argv = [*_banner(settings), "worker", "--loglevel=INFO"]
    argv.append(f"--pool={pool or ('threads' if embedded else 'prefork')}")
    argv.append(f"--concurrency={worker_concurrency(settings, concurrency)}")
    if embedded:
        argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    app.worker_main(argv)


def _banner(settings: Settings) -> list[str]:
    """Celery's start-up banner is many lines of text; JSON logs carry only JSON lines."""
    return ["--quiet"] if settings.log_format == "json" else []


# Two processes send 2 x NURTURE_SEND_CONCURRENCY (64) emails at once, more than a clinic's
# busiest minute needs, in ~280 MB; one process per CPU (Celery's default) took gigabytes on a
# large server for nothing. The embedded broker runs threads in one process instead.
DEFAULT_WORKER_PROCESSES = 2
DEFAULT_EMBEDDED_THREADS = 4


def worker_concurrency(settings: Settings, given: int | None = None) -> int:
    """Worker processes (or threads): --concurrency, else NURTURE_WORKER_CONCURRENCY, else 2."""
    if given is not None:
        return given
    if settings.worker_concurrency is not None:
        return settings.worker_concurrency
    embedded = settings.resolved_broker_url.startswith("filesystem")
    return DEFAULT_EMBEDDED_THREADS if embedded else DEFAULT_WORKER_PROCESSES


@click.command()
def beat() -> None:
    """Run Celery beat: the clock that starts a tick every NURTURE_TICK_SECONDS."""
    from nurture.celery_app import app

    settings = load_settings()
    configure_logs(settings.log_format)
    private_dir(settings.data_dir)
    app.start([*_banner(settings), "beat", "--loglevel=INFO"])


@click.command()
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
def flower(port: int, address: str) -> None:
    """Run Flower, Celery's monitoring UI, against the configured broker (Redis)."""
    settings = load_settings()
    if settings.resolved_broker_url.startswith("filesystem://"):
        # Flower asks workers through the broker's remote control and listens to their events;
        # the embedded broker (a folder) carries neither, so Flower would show nothing, and its
        # unanswered questions held it past a stop signal.
        raise click.ClickException(
            "Flower needs a broker that carries worker events, and the embedded broker (a "
            "folder) does not. Set NURTURE_BROKER_URL to a Redis server (redis://host:6379/0) "
            "to use Flower; on the embedded default, `nurture doctor` and /readyz show the "
            "worker and beat."
        )
    from nurture.celery_app import app

    app.start(["flower", f"--port={port}", f"--address={address}"])


@click.group()
def healthcheck() -> None:
    """Container health checks: exit 0 when this process is well, 1 (saying why) when not."""


@healthcheck.command("web")
@click.option(
    "--url", default="http://127.0.0.1:8000/healthz", show_default=True, help="Liveness URL."
)
def healthcheck_web(url: str) -> None:
    """The web server on this machine answers its liveness page."""
    import httpx

    try:
        answer = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"{url} does not answer: {exc}") from exc
    if answer.status_code != 200:
        raise click.ClickException(f"{url} answered {answer.status_code}")
    click.echo(f"{url} answered 200")


@healthcheck.command("worker")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the reply.")
def healthcheck_worker(timeout: float) -> None:
    """The worker on this machine (celery@hostname) answers a ping through the broker."""
    from celery.utils.nodenames import default_nodename

    from nurture.celery_app import app

    settings = load_settings()
    if settings.resolved_broker_url.startswith("filesystem"):
        raise click.ClickException(
            "the embedded broker has no remote control to ping a worker through; use Redis"
        )
    node = default_nodename(None)
    replies = app.control.ping(destination=[node], timeout=timeout)
    if not any(node in reply for reply in replies or []):
        raise click.ClickException(f"{node} did not answer a ping within {timeout:g} s")
    click.echo(f"{node} answered")


@healthcheck.command("beat")
def healthcheck_beat() -> None:
    """Beat's heartbeat: a tick ran within three NURTURE_TICK_SECONDS (a worker runs it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.core.readiness import tick_age, tick_is_fresh
    from nurture.outbox.models import Heartbeat

    settings = load_settings()
    try:
        with session_scope() as session:
            beat = session.get(Heartbeat, "tick")
            last = beat.beat_at if beat is not None else None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"the database does not answer: {exc}") from exc
    age = tick_age(last, clock.now())
    if not tick_is_fresh(age, settings):
        when = "never" if age is None else f"{age:.0f} s ago"
        raise click.ClickException(
            f"the last tick ran {when}; expected within {3 * settings.tick_seconds + 5:g} s "
            "(is beat running, and a worker to run its ticks?)"
        )
    click.echo(f"the last tick ran {age:.0f} s ago")
