"""`nurture status`, `/metrics` and `/readyz` read the outbox as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from nurture.cli import main
from nurture.core import clock
from nurture.delivery import outbox, service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import MessageStatus, Stream
from tests.factories import make_lead
from tests.sendgrid_server import Scripted


def _seed(session, now: datetime) -> None:  # type: ignore[no-untyped-def]
    lead = make_lead(session, status="pending")
    for i, (status, due) in enumerate(
        [
            (MessageStatus.PENDING, now - timedelta(minutes=10)),
            (MessageStatus.PENDING, now - timedelta(minutes=1)),
            (MessageStatus.PENDING, now + timedelta(days=1)),
            (MessageStatus.UNKNOWN, now - timedelta(hours=1)),
            (MessageStatus.FAILED, now - timedelta(hours=1)),
        ]
    ):
        msg = outbox.plan(
            session,
            key=f"k{i}",
            stream=Stream.TRANSACTIONAL,
            template="confirm",
            due_at=due,
            lead_id=lead.id,
        )
        msg.status = status
    session.commit()


def test_status_prints_the_backlog(session) -> None:
    now = datetime.now(UTC)
    _seed(session, now)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "due now        2" in out
    assert "pending later  1" in out
    assert "unknown        1" in out
    assert "failed         1" in out
    assert "oldest due     600s" in out or "oldest due     10m" in out
    assert "last tick      never" in out
    assert "@" not in out  # no addresses


def test_metrics_and_health_follow_the_tick(session, client, sendgrid, settings) -> None:
    settings(metrics_token="scrape-token-for-tests")
    now = datetime.now(UTC)
    _seed(session, now)
    assert client.get("/readyz").status_code == 503  # beat has never ticked
    assert client.get("/healthz").json() == {"status": "ok"}  # liveness depends on no tick
    sendgrid.state.script.append(Scripted(status=503))
    backend = get_backend()
    with clock.frozen_at(now):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=backend))
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["broker"] == "ok"
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests"}).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("nurture_emails_sent_total", ())] == 1
    assert samples[("nurture_send_retries_total", (("reason", "server_error"),))] == 1
    assert samples[("nurture_messages", (("status", "pending"),))] == 2  # retry + tomorrow's
    assert samples[("nurture_due_backlog", ())] == 0
    assert samples[("nurture_tick_duration_seconds", ())] > 0
    assert "@" not in text


class _Killed(BaseException):
    """The worker process dying while the provider call is under way."""


class _DiesWhileSending:
    """A backend whose process is killed during its first send."""

    name = "dies"

    def send(self, email: object) -> str:
        raise _Killed


def test_status_says_when_the_leases_of_a_dead_workers_rows_end(session, settings) -> None:
    settings(claim_lease_seconds="300")
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    lead = make_lead(session, status="pending")
    for i in range(3):
        outbox.plan(
            session,
            key=f"confirm:{i}",
            stream=Stream.TRANSACTIONAL,
            template="confirm",
            due_at=now,
            lead_id=lead.id,
        )
    session.commit()
    claimed: list[list[int]] = []
    with clock.frozen_at(now):
        service.tick(dispatch=claimed.append)
        # One send at a time: the first row reaches the provider, then the worker dies.
        with pytest.raises(_Killed):
            service.deliver_batch(claimed[0], backend=_DiesWhileSending(), concurrency=1)
    with clock.frozen_at(now + timedelta(minutes=2)):
        out = CliRunner().invoke(main, ["status"]).output
    assert (
        "in flight      3 (leases end in 3m; if their worker stopped, "
        "2 go back to pending and 1 become unknown)"
    ) in out
    with clock.frozen_at(now + timedelta(minutes=6)):
        out = CliRunner().invoke(main, ["status"]).output
        assert "in flight      3 (leases ended 60s ago, the next tick takes them;" in out
        result = service.tick(dispatch=lambda ids: None)
    assert (result.released, result.unknown) == (2, 1)  # as the status line said


def test_readyz_names_an_unreachable_broker_and_healthz_stays_up(settings, client, session) -> None:
    from nurture.delivery.service import beat_heartbeat

    beat_heartbeat(session, name="tick", at=datetime.now(UTC))
    session.commit()
    assert client.get("/readyz").status_code == 200
    settings(broker_url="redis://127.0.0.1:1/0")  # nothing listens there
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["broker"] == "unreachable"
    assert ready.json()["database"] == "ok"
    assert ready.json()["status"] == "error"
    assert client.get("/healthz").status_code == 200  # no reason to restart web


def test_metrics_are_off_unless_a_token_is_set_and_then_need_it(session, client, settings) -> None:
    # Off by default: the path does not exist for anyone.
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404
    settings(metrics_token="scrape-token-for-tests")
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic c2NyYXBlLXRva2VuLWZvci10ZXN0cw=="},
        {"Authorization": "scrape-token-for-tests"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "nurture_messages" not in refused.text
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests"})
    assert scraped.status_code == 200
    assert "nurture_messages" in scraped.text
