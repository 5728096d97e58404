"""`nurture up --port N` and every command run beside it agree on the public address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nurture.core.config import DEFAULT_BASE_URL, Settings
from nurture.core.served_url import record, url_path
from tests.processes import free_port, running, stop, wait_for


def _bare_env() -> dict[str, str]:
    """The environment of a fresh terminal: no NURTURE_* but the services the suite runs on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    for name in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
def test_a_command_beside_up_prints_links_to_the_port_up_serves(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _bare_env()
    log = tmp_path / "up.log"
    with running(["up", "--port", str(port)], env=env, cwd=tmp_path, log=log) as proc:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_for(lambda: http.get("/").status_code == 200, timeout=90, what="web", log=log)
        beside = subprocess.run(
            [sys.executable, "-m", "nurture", "staff", "create", "ana@clinic.example"]
            + ["--role", "admin", "--password-stdin"],
            input="a long enough password for the test\n",
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert beside.returncode == 0, beside.stderr
        assert f"can sign in at {base}/studio" in beside.stdout
        assert stop(proc) == 0
    # After `up` stops the address stays the best guess; the next `up` overwrites it.
    assert (tmp_path / "nurture-data" / "base_url").read_text().strip() == base


def test_explicit_base_url_wins_over_the_recorded_one(tmp_path: Path, monkeypatch) -> None:
    record(tmp_path, "http://127.0.0.1:9123")
    monkeypatch.setenv("NURTURE_BASE_URL", "https://clinic.example/")
    assert Settings(data_dir=tmp_path).resolved_base_url == "https://clinic.example"
    monkeypatch.delenv("NURTURE_BASE_URL")
    assert Settings(data_dir=tmp_path).resolved_base_url == "http://127.0.0.1:9123"
    monkeypatch.setenv("NURTURE_BASE_URL", "")  # empty is unset, as for every setting
    assert Settings(data_dir=tmp_path).resolved_base_url == "http://127.0.0.1:9123"


def test_without_a_recorded_url_the_default_applies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NURTURE_BASE_URL")
    assert Settings(data_dir=tmp_path).resolved_base_url == DEFAULT_BASE_URL
    url_path(tmp_path).write_text("javascript:alert(1)\n")
    assert Settings(data_dir=tmp_path).resolved_base_url == DEFAULT_BASE_URL


def test_up_on_a_busy_port_keeps_the_running_instances_address(tmp_path: Path) -> None:
    import socket

    record(tmp_path / "nurture-data", "http://127.0.0.1:9123")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "nurture", "up", "--port", str(port)],
            env=_bare_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode != 0
    assert "in use" in result.stderr
    assert url_path(tmp_path / "nurture-data").read_text().strip() == "http://127.0.0.1:9123"
