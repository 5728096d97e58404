"""One long-running process each: `nurture web`, `worker`, `beat` and `flower`."""

from __future__ import annotations

import os

import click

from nurture.cli.common import load_settings
from nurture.core.private_files import private_dir


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def web(host: str, port: int, workers: int) -> None:
    """Serve the web app (landing page, API, outbox)."""
    import uvicorn

    load_settings()
    uvicorn.run(
        "nurture.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        proxy_headers=True,
        workers=workers,
        log_level="warning" if workers > 1 else "info",
    )


@click.command()
@click.option("--pool", default=None, help="Celery pool (prefork, threads, solo).")
@click.option("--concurrency", "-c", default=None, type=int)
def worker(pool: str | None, concurrency: int | None) -> None:
    """Run a Celery worker that sends due emails."""
    from nurture.celery_app import app

    settings = load_settings()
    embedded = settings.resolved_broker_url.startswith("filesystem")
    argv = ["worker", "--loglevel=INFO", f"--pool={pool or ('threads' if embedded else 'prefork')}"]
    argv.append(f"--concurrency={concurrency or (4 if embedded else os.cpu_count() or 2)}")
    if embedded:
        argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    app.worker_main(argv)


@click.command()
def beat() -> None:
    """Run Celery beat: the clock that starts a tick every NURTURE_TICK_SECONDS."""
    from nurture.celery_app import app

    settings = load_settings()
    private_dir(settings.data_dir)
    app.start(["beat", "--loglevel=INFO"])


@click.command()
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
def flower(port: int, address: str) -> None:
    """Run Flower, Celery's monitoring UI, against the configured broker."""
    from nurture.celery_app import app

    load_settings()
    app.start(["flower", f"--port={port}", f"--address={address}"])
