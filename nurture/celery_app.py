"""The Celery application, configured from the top-level celeryconfig module."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

app = Celery("nurture", include=["nurture.tasks"])
app.config_from_object("celeryconfig")


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Drop database connections inherited from the parent across fork."""
    from nurture.db import dispose_engines

    dispose_engines()
