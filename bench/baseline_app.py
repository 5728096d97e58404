"""The baseline for bench_end_to_end.py: one Celery task per email, scheduled with a countdown.

This is the approach of Twilio's appointment-reminders sample: for every reminder the producer
queues `send_reminder.apply_async((id,), eta=...)`; the worker keeps the ETA task in memory
until it is due, then the task loads its one row, renders, sends through the `sendgrid`
package's own client (a new connection per request) and records the result.

To compare architectures and not business logic, the task does the same per-email work as
nurture's deliver_batch (re-check, compose() rendering, mark sent, plan the sequence's next
step); only the scheduling, the batching and the HTTP client differ.

Run by bench_end_to_end.py as `celery -A baseline_app worker` with the NURTURE_* settings.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

app = Celery("baseline", broker=os.environ.get("NURTURE_BROKER_URL", "redis://127.0.0.1:6379/14"))
app.conf.update(
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue="baseline",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    enable_utc=True,
)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    from nurture.core.db import dispose_engines

    dispose_engines()


@lru_cache(maxsize=1)
def _client():  # type: ignore[no-untyped-def]
    from nurture.core.config import get_settings
    from nurture.delivery.channels.sendgrid_package import SendGridPackageBackend

    return SendGridPackageBackend(get_settings())


@app.task(name="baseline.send_reminder")
def send_reminder(message_id: int) -> None:
    """Load one outbox row, render it, send it with the package client, record it."""
    from sqlalchemy.orm import selectinload

    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.delivery.compose import check, compose, gather
    from nurture.enrollments import service as enrollments
    from nurture.outbox.models import Message, MessageStatus

    now = clock.now()
    with session_scope() as session:
        message = session.get(Message, message_id, options=[selectinload(Message.lead)])
        if message is None or message.status != MessageStatus.PENDING:
            return
        facts = gather(session, [message], now)
        if check(message, facts, now) is not None:
            message.status = MessageStatus.SKIPPED
            return
        email = compose(message, facts)
        provider_id = _client().send(email)
        message.status = MessageStatus.SENT
        message.subject = email.subject
        message.provider_message_id = provider_id
        message.sent_at = clock.now()
        message.attempts += 1
        if message.enrollment_id is not None and message.step_id is not None:
            enrollment = facts.enrollments.get(message.enrollment_id)
            step = facts.steps.get(message.step_id)
            if enrollment is not None and step is not None:
                enrollments.advance(session, enrollment=enrollment, step=step, at=now)
