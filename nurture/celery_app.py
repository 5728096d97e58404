"""The Celery application, configured from the top-level celeryconfig module."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from nurture.core import dispatch

# One line per HTTP request to SendGrid is noise at INFO; delivery logs its own outcomes.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

app = Celery("nurture", include=["nurture.tasks"])
app.config_from_object("celeryconfig")


def _send(task: str, args: tuple[Any, ...]) -> None:
    app.send_task(task, args, retry=False)


# Domains and pages queue work by task name through this hook (see core.dispatch).
dispatch.register(_send)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Drop database connections inherited from the parent across fork."""
    from nurture.core.db import dispose_engines

    dispose_engines()
