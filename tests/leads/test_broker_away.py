"""Redis away (the broker and the shared rate-limit store): signups, sign-ins and bookings are
stored and answered as usual, and the tick sends their emails once Redis is back.

Redis is replaced by a listener the test controls on a port of its own (the machine's Redis is
never touched), which drops every connection (a service going away) or holds it without a word
(a server that hangs): the real redis and kombu clients meet it, and the listener counts how
often they tried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.celery_app import app
from nurture.cli import main
from nurture.core import clock, dispatch
from nurture.core.config import get_settings
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageStatus
from nurture.studio.auth import create_staff
from tests.studio.conftest import PASSWORD, Studio
from tests.tcp import Listener
from tests.ticking import tick_here as _tick

SIGNUP = {
    "email": "ann@example.com",
    "first_name": "Ann",
    "numbness_type": "chronic",
    "timezone": "Europe/Berlin",
    "consent": True,
}


@pytest.fixture(params=["close", "silent"])
def redis_away(request, settings, monkeypatch) -> Iterator[Listener]:  # type: ignore[no-untyped-def]
    """Point the rate limits and the broker at a listener that drops or holds every connection."""
    # Celery reads celeryconfig on first use: let it read the run's own settings first.
    assert app.conf.broker_url
    with Listener(mode=request.param) as listener:
        url = f"redis://127.0.0.1:{listener.port}/0"
        settings(broker_url=url)
        # The Celery app reads its broker once, at import; point it at the same place.
        monkeypatch.setitem(app.conf, "broker_url", url)
        monkeypatch.setitem(app.conf, "broker_transport", None)
        monkeypatch.setitem(app.conf, "broker_transport_options", {})
        dispatch.broker_reset()
        yield listener
    dispatch.broker_reset()


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_signups_are_stored_and_answered_while_redis_is_away(client, session, redis_away) -> None:
    api = client.post("/api/subscribe", json=SIGNUP)
    assert api.status_code == 202, api.text
    tried = redis_away.accepted
    assert tried == 2, tried  # one try for the rate limit, one for the nudge
    form = client.post(
        "/subscribe",
        data={**SIGNUP, "email": "bo@example.com", "consent": "true"},
        follow_redirects=False,
    )
    assert form.status_code == 303, form.text
    # Once seen away, Redis is left alone for a while: no request waits on it again.
    assert redis_away.accepted == tried
    assert _count(session, Lead) == 2
    rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [(m.template, m.status) for m in rows] == [("confirm", MessageStatus.PENDING)] * 2
    # When the broker is back, beat's tick sends the confirmations it finds in the database.
    sent = [o.message_id for o in _tick(clock.now()) if o.status == "sent"]
    assert sent == [m.id for m in rows]


def test_rate_limits_still_hold_while_redis_is_away(client, session, settings, redis_away) -> None:
    settings(signup_rate_per_address="2/hour")
    answers = [client.post("/api/subscribe", json=SIGNUP).status_code for _ in range(3)]
    assert answers == [202, 202, 429]


def test_studio_sign_in_works_while_redis_is_away(client, session, redis_away) -> None:
    create_staff(
        session, email="editor@clinic.example", password=PASSWORD, role="editor", now=clock.now()
    )
    session.commit()
    response = Studio(client).sign_in("editor@clinic.example")
    assert response.status_code == 303, response.text


def test_a_booking_tries_the_broker_once_and_answers(client, session, redis_away) -> None:
    result = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    token = result.stdout.strip().splitlines()[0]
    visit = datetime.now(UTC) + timedelta(days=5)
    booking = {
        "email": "pat@example.com",
        "first_name": "Pat",
        "starts_at": visit.isoformat(),
        "timezone": "Europe/Berlin",
        "external_id": "ext-1",
    }
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    first = client.post("/api/appointments", json=booking, headers=headers)
    took = time.monotonic() - started
    assert first.status_code in (200, 201), first.text
    assert redis_away.accepted == 1  # one connection, no retries
    # A Redis that hangs costs one NURTURE_REDIS_TIMEOUT_SECONDS (0.5 s), not the 6 s of
    # kombu's retries it once took; the bound leaves room for a busy machine.
    assert took < 3, took
    second = client.post(
        "/api/appointments", json={**booking, "external_id": "ext-2"}, headers=headers
    )
    assert second.status_code in (200, 201), second.text
    assert redis_away.accepted == 1  # the broker was seen away: not tried again so soon
    confirmations = session.scalars(
        select(Message).where(Message.template == "appointment_confirmation")
    ).all()
    assert len(confirmations) == 2


def test_a_nudge_reaches_a_broker_that_answers(settings) -> None:
    """The quick path still queues: on the run's real broker (Redis or the embedded folders)."""
    dispatch.broker_reset()
    broker = get_settings().resolved_broker_url
    before = _queued(broker)
    assert dispatch.send(dispatch.TICK)
    assert _queued(broker) == before + 1


def _queued(broker: str) -> int:
    if broker.startswith("redis"):
        return int(redis.Redis.from_url(broker).llen("celery"))  # type: ignore[arg-type]
    folder = Path(app.conf.broker_transport_options["data_folder_in"])
    return len(list(folder.iterdir())) if folder.is_dir() else 0
