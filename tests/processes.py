"""Start and stop the real `nurture` programs as subprocesses in tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T], *, timeout: float, what: str, log: Path | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with the process log otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last error
            last_error = exc
        else:
            if result:
                return result
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})\n{tail}")


@contextmanager
def running(
    args: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m nurture ARGS` for the duration of the block, then stop it with SIGTERM."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nurture", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Signal a process (and its group) and wait for it; kill it if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return int(proc.returncode)


def child_env(**overrides: str) -> dict[str, str]:
    """Return this process's environment plus NURTURE_* overrides, for a child program."""
    env = dict(os.environ)
    env.update({f"NURTURE_{k.upper()}": v for k, v in overrides.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def serving_web(tmp_path: Path, *, listen: str = "127.0.0.1", **overrides: str) -> Iterator[str]:
    """Run `nurture web` on a free port with NURTURE_* overrides; yield its URL once it answers.

    `listen` is the address web binds (`0.0.0.0`, as in its container, for every address of
    this machine); the URL yielded is on 127.0.0.1 either way.
    """
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(base_url=base, **overrides)
    log = tmp_path / "web.log"
    args = ["web", "--host", listen, "--port", str(port)]
    with running(args, env=env, cwd=tmp_path, log=log):
        wait_for(
            lambda: httpx.get(base + "/healthz", timeout=5).status_code in (200, 503),
            timeout=60,
            what="web",
            log=log,
        )
        yield base
