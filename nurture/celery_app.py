"""The Celery application, configured from the top-level celeryconfig module."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init, worker_process_init

# One line per HTTP request to SendGrid is noise at INFO; delivery logs its own outcomes.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

app = Celery("nurture", include=["nurture.tasks"])
app.config_from_object("celeryconfig")


@worker_init.connect
@beat_init.connect
def _load_models(**_: Any) -> None:
    """Load every model in the worker and beat before any task touches the database."""
    from nurture.models import load_models

    load_models()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Drop database connections inherited from the parent across fork."""
    from nurture.core.db import dispose_engines

    dispose_engines()


@setup_logging.connect
def _logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Write worker and beat logs as `nurture web` does (timestamps, JSON lines, no tokens)."""
    from nurture.core.config import get_settings
    from nurture.core.logs import configure

    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else (loglevel or "INFO")
    configure(get_settings().log_format, str(level).upper())
