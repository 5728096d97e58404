"""Real workers under failure: kill -9 mid-batch, two beats racing, the broker restarting."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.enrollments import service as enrollments
from nurture.outbox.models import Message, MessageStatus
from tests.factories import make_lead
from tests.processes import child_env, free_port, running, wait_for
from tests.sendgrid_server import SendGridServer

pytestmark = pytest.mark.slow

WORKER_PROCESSES = 2


def _enroll(session, count: int) -> set[int]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    for i in range(count):
        lead = make_lead(session, email_address=f"crash{i}@example.com", numbness_type="acute")
        enrollments.enroll(session, lead=lead, now=now)
    session.commit()
    return set(session.scalars(select(Message.id)))


def _open_rows(session) -> int:  # type: ignore[no-untyped-def]
    """Count rows still to be sent now: claimed, or pending and due (later steps don't count)."""
    session.expire_all()
    now = datetime.now(UTC)
    return int(
        session.scalar(
            select(func.count()).where(
                (Message.status == MessageStatus.SENDING)
                | ((Message.status == MessageStatus.PENDING) & (Message.due_at <= now))
            )
        )
    )


def _settle_unknown(session, accepted: set[str]) -> int:  # type: ignore[no-untyped-def]
    """Resolve `unknown` rows as staff would, after looking at the provider's activity."""
    session.expire_all()
    unknown = session.scalars(select(Message.id).where(Message.status == "unknown")).all()
    for message_id in unknown:
        verdict = "--sent" if str(message_id) in accepted else "--resend"
        result = CliRunner().invoke(main, ["outbox", "resolve", str(message_id), verdict])
        assert result.exit_code == 0, result.output
    return len(unknown)


def test_kill_9_worker_mid_batch_with_two_racing_beats(
    tmp_path: Path, session, sequences_loaded
) -> None:
    ids = _enroll(session, 1000)  # each lead's first email is due now
    with SendGridServer() as sendgrid:
        # First emails share their step's body, so they go many to a request: a slow answer
        # keeps requests in flight when the worker is killed.
        sendgrid.state.latency = 0.3
        env = child_env(
            tick_seconds="1",
            claim_lease_seconds="10",
            email_backend="sendgrid",
            sendgrid_api_key=sendgrid.state.api_key,
            sendgrid_api_host=sendgrid.url,
        )
        log = tmp_path / "celery.log"
        worker_args = ["worker", "--concurrency", str(WORKER_PROCESSES)]
        with (
            running(["beat"], env=env, cwd=tmp_path, log=log),
            running(
                ["beat"],
                env=child_env(
                    **{"data_dir": str(tmp_path / "beat2")},
                    **{
                        k.removeprefix("NURTURE_").lower(): v
                        for k, v in env.items()
                        if k.startswith("NURTURE_") and k != "NURTURE_DATA_DIR"
                    },
                ),
                cwd=tmp_path,
                log=log,
            ),
        ):
            # After 200 emails the server holds each request it accepts: the worker is killed
            # while one is in flight (its emails went out; the worker never hears so).
            sendgrid.state.hold_after = 200
            with running(worker_args, env=env, cwd=tmp_path, log=log) as first:
                wait_for(
                    lambda: sendgrid.state.held >= 1,
                    timeout=120,
                    what="a request in flight after 200 sends",
                    log=log,
                )
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            sendgrid.state.hold_after = None
            sendgrid.state.release.set()
            killed_at = len(sendgrid.state.emails())
            assert any(len(b["personalizations"]) > 1 for b in sendgrid.state.accepted)
            assert killed_at < len(ids), "the worker finished before it could be killed"
            with running(worker_args, env=env, cwd=tmp_path, log=log):
                wait_for(lambda: _open_rows(session) == 0, timeout=180, what="drain", log=log)
                accepted = collections.Counter(sendgrid.state.custom_ids())
                assert max(accepted.values()) == 1, "an email was sent twice"
                session.expire_all()
                stopped = session.scalar(
                    select(func.count()).where(
                        Message.status == MessageStatus.UNKNOWN,
                        Message.last_error.startswith("the worker stopped while sending"),
                    )
                )
                # At most one chunk per worker process was in flight when it died (a chunk is
                # at most a claimed batch). Other unknowns (a connection the test server reset
                # mid-answer) are settled alike.
                assert stopped <= WORKER_PROCESSES * get_settings().tick_batch_size
                _settle_unknown(session, set(accepted))
                wait_for(lambda: _open_rows(session) == 0, timeout=120, what="resends", log=log)
        counts = collections.Counter(sendgrid.state.custom_ids())
    assert set(counts) == {str(i) for i in ids}, "an email was lost"
    assert max(counts.values()) == 1, "an email was sent twice"
    session.expire_all()
    statuses = set(session.scalars(select(Message.status).where(Message.id.in_(ids))))
    # Each sent first step planned its successor, days away, exactly once.
    later = session.scalar(select(func.count()).where(Message.id.not_in(ids)))
    assert later == len(ids)
    assert statuses == {MessageStatus.SENT}


def test_broker_restart_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, session, sequences_loaded
) -> None:
    if not get_settings().resolved_broker_url.startswith("redis"):
        pytest.skip("restarting the broker is the Redis run's test")
    server_bin = shutil.which("redis-server")
    assert server_bin, "redis-server is needed to restart a private Redis"
    port = free_port()
    redis_cmd = [
        server_bin,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]
    ids = _enroll(session, 800)
    redis_proc = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    try:
        import redis as redis_client

        client = redis_client.Redis(port=port)
        wait_for(client.ping, timeout=20, what="private redis")
        with SendGridServer() as sendgrid:
            sendgrid.state.latency = 0.05
            env = child_env(
                broker_url=f"redis://127.0.0.1:{port}/0",
                tick_seconds="1",
                claim_lease_seconds="10",
                email_backend="sendgrid",
                sendgrid_api_key=sendgrid.state.api_key,
                sendgrid_api_host=sendgrid.url,
            )
            log = tmp_path / "celery.log"
            with (
                running(["beat"], env=env, cwd=tmp_path, log=log),
                running(["worker", "--concurrency", "2"], env=env, cwd=tmp_path, log=log),
            ):
                wait_for(
                    lambda: len(sendgrid.state.emails()) >= 150,
                    timeout=120,
                    what="150 sends",
                    log=log,
                )
                client.shutdown(nosave=True)
                redis_proc.wait(timeout=10)
                redis_proc = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
                wait_for(client.ping, timeout=20, what="redis back")
                wait_for(lambda: _open_rows(session) == 0, timeout=180, what="drain", log=log)
                accepted = collections.Counter(sendgrid.state.custom_ids())
                assert max(accepted.values()) == 1
                _settle_unknown(session, set(accepted))
                wait_for(lambda: _open_rows(session) == 0, timeout=120, what="resends", log=log)
            counts = collections.Counter(sendgrid.state.custom_ids())
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    assert set(counts) == {str(i) for i in ids}
    assert max(counts.values()) == 1
