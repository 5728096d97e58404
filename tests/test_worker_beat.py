"""A real Celery worker and beat (Redis when configured) send due drip email to SendGrid."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from nurture.core.config import get_settings
from nurture.enrollments import service as enrollments
from nurture.outbox.models import Message, MessageStatus
from tests.factories import make_lead
from tests.processes import child_env, running, wait_for
from tests.sendgrid_server import SendGridServer

pytestmark = pytest.mark.slow


def test_beat_ticks_and_worker_delivers_through_sendgrid(
    tmp_path: Path, session, sequences_loaded
) -> None:
    lead = make_lead(
        session, email_address="kim@example.com", numbness_type="unsure", first_name="Kim"
    )
    enrollment = enrollments.enroll(session, lead=lead, now=datetime.now(UTC))
    assert enrollment is not None
    session.commit()
    with SendGridServer() as sendgrid:
        env = child_env(
            tick_seconds="1",
            email_backend="sendgrid",
            sendgrid_api_key=sendgrid.state.api_key,
            sendgrid_api_host=sendgrid.url,
        )
        log = tmp_path / "celery.log"
        with (
            running(["worker", "--concurrency", "2"], env=env, cwd=tmp_path, log=log),
            running(["beat"], env=env, cwd=tmp_path, log=log),
        ):
            wait_for(lambda: sendgrid.state.accepted, timeout=60, what="a send", log=log)
        [sent] = sendgrid.state.emails()  # as Kim gets it: the personalization's fields win
    assert sent["to"][0]["email"] == "kim@example.com"
    assert sent["subject"] == "Welcome, Kim: your first short read"
    session.expire_all()
    rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [r.status for r in rows] == [MessageStatus.SENT, MessageStatus.PENDING]
    assert rows[0].provider_message_id
    # The next step waits in the database, three days on, not in the broker.
    assert (rows[1].due_at - rows[0].sent_at).days >= 3  # type: ignore[operator]
    log_text = log.read_text()
    assert "kim@example.com" not in log_text  # no addresses in INFO logs
    if get_settings().resolved_broker_url.startswith("redis"):
        assert "redis://" in log_text
