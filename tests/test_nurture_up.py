"""`nurture up` in an empty folder: the whole service, driven over HTTP like a person would."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import httpx
import pytest

from tests.factories import link_in, outbox_messages, text_part
from tests.processes import free_port, running, stop, wait_for

pytestmark = pytest.mark.slow


def test_up_runs_signup_to_first_drip_email(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    # On the embedded default no NURTURE_* variable is set; with PostgreSQL and Redis
    # configured the same command runs against them (as docker-compose does).
    for name in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["NURTURE_TICK_SECONDS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "up.log"
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    outbox = workdir / "nurture-data" / "outbox"
    with running(["up", "--port", str(port)], env=env, cwd=workdir, log=log) as proc:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_for(lambda: http.get("/").status_code == 200, timeout=90, what="web", log=log)
            response = http.post(
                "/api/subscribe",
                json={
                    "email": "lee@example.com",
                    "first_name": "Lee",
                    "numbness_type": "intermittent",
                    "timezone": "Europe/Paris",
                    "consent": True,
                },
            )
            assert response.status_code == 202
            wait_for(lambda: outbox_messages(outbox), timeout=60, what="confirmation", log=log)
            [confirmation] = outbox_messages(outbox)
            link = link_in(text_part(confirmation), "/confirm/")
            assert link.startswith(base)
            shown = http.get(link.removeprefix(base))
            assert shown.status_code == 200
            assert "Yes, confirm my email" in shown.text  # opening the link confirms nothing
            page = http.post(link.removeprefix(base))
            assert page.status_code == 200
            assert "confirmed" in page.text
            # The worker signed that link and web checked it with the key made on first run.
            key = workdir / "nurture-data" / "secret_key"
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
            # Patient data stays private to the service's user: the folder and what is in it.
            assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
            for eml in outbox.glob("*.eml"):
                assert stat.S_IMODE(eml.stat().st_mode) == 0o600
            second = wait_for(
                lambda: len(outbox_messages(outbox)) >= 2, timeout=60, what="drip", log=log
            )
            assert second
            welcome = outbox_messages(outbox)[1]
            assert welcome["Subject"] == "Welcome, Lee: your first short read"
            listing = http.get("/outbox")
            assert "Welcome, Lee" in listing.text
            health = wait_for(
                lambda: http.get("/readyz").json()["status"] == "ok",
                timeout=30,
                what="healthy",
                log=log,
            )
            assert health
        assert stop(proc, signal.SIGINT) == 0
    output = log.read_text()
    assert "Nurture is running at" in output
    assert "Stopped." in output


def test_up_says_it_is_running_only_once_the_web_server_listens(tmp_path: Path) -> None:
    import socket

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    for name in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "up.log"
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    with running(["up", "--port", str(port)], env=env, cwd=workdir, log=log) as proc:
        wait_for(
            lambda: "Nurture is running at" in log.read_text(), timeout=120, what="up", log=log
        )
        # The moment it says so, the address it prints answers.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        assert stop(proc, signal.SIGINT) == 0


def test_a_stop_while_it_starts_stops_everything_cleanly(tmp_path: Path) -> None:
    """SIGTERM between "Starting" and the web server listening: a clean stop, not a kill."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    for name in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "up.log"
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    with running(["up", "--port", str(port)], env=env, cwd=workdir, log=log) as proc:
        wait_for(lambda: "[3/3] Starting" in log.read_text(), timeout=120, what="start", log=log)
        assert stop(proc, signal.SIGTERM) == 0
    output = log.read_text()
    assert "Stopped." in output
    assert "Nurture is running at" not in output
