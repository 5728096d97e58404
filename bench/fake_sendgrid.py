"""Run tests/sendgrid_server.py's fake SendGrid in its own process, for benchmarks.

The server must not share a GIL with the code being measured, so benchmarks start it with
`FakeSendGrid()` (a spawned child process, controlled over a pipe: latency, counters, stop).
`FakeSendGrid(tls=True)` serves HTTPS with a throwaway self-signed certificate, like the real
API (which is HTTPS only), so a new connection per request also pays a TLS handshake.

Two changes from the test setup, both on the server side only:
- the listen backlog is raised from socketserver's default of 5 to 1024, so bursts of new
  connections (the package transport opens one per request) are not dropped and retried;
- accepted bodies are counted, not kept, so 100,000 sends do not fill the server's memory.

Standalone: `python bench/fake_sendgrid.py --latency 0.05` prints the URL and serves until ^C.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

API_KEY = "SG.bench-key"


class _CountingSink:
    """Stands in for SendGridState.accepted: counts appends, keeps the last few bodies."""

    def __init__(self, keep: int = 5) -> None:
        self.count = 0
        self.keep = keep
        self.last: list[Any] = []

    def append(self, body: Any) -> None:
        # Emails, not requests: a batched request carries one email per personalization.
        self.count += len(body.get("personalizations") or [None])
        if self.keep:
            self.last.append(body)
            del self.last[: -self.keep]

    def __len__(self) -> int:
        return self.count

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.last)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 (clients trust it via SSL_CERT_FILE)."""
    cert, key = folder / "fake-sendgrid.crt", folder / "fake-sendgrid.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _enable_tls(server: Any, cert: Path, key: Path) -> None:
    """Serve HTTPS; each connection's handshake runs in its own handler thread."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd = server.httpd
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    base = httpd.RequestHandlerClass

    class TLSHandler(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.request.do_handshake()
            super().setup()

    httpd.RequestHandlerClass = TLSHandler


def _start_server(latency: float, api_key: str, tls_files: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    from http.server import ThreadingHTTPServer

    ThreadingHTTPServer.request_queue_size = 1024
    from tests.sendgrid_server import SendGridServer

    server = SendGridServer(api_key=api_key)
    server.state.latency = latency
    server.state.accepted = _CountingSink()  # type: ignore[assignment]
    if tls_files:
        _enable_tls(server, Path(tls_files[0]), Path(tls_files[1]))
    server.__enter__()
    return server


def _child(
    conn: Any, latency: float, api_key: str, tls_files: tuple[str, str] | None = None
) -> None:
    server = _start_server(latency, api_key, tls_files)
    url = server.url.replace("http://", "https://") if tls_files else server.url
    conn.send(url)
    state = server.state
    while True:
        try:
            cmd, *args = conn.recv()
        except EOFError:
            break
        if cmd == "latency":
            state.latency = float(args[0])
            conn.send(True)
        elif cmd == "stats":
            with state.lock:
                conn.send({"requests": state.requests, "accepted": len(state.accepted)})
        elif cmd == "last":
            with state.lock:
                conn.send(list(state.accepted))
        elif cmd == "reset":
            with state.lock:
                state.requests = 0
                state.accepted = _CountingSink()
            conn.send(True)
        elif cmd == "stop":
            conn.send(True)
            break
    server.__exit__()


class FakeSendGrid:
    """The fake SendGrid API in a separate (spawned) process."""

    def __init__(self, latency: float = 0.0, api_key: str = API_KEY, *, tls: bool = False) -> None:
        """Start the server; with `tls`, serve HTTPS with a fresh self-signed certificate.

        With TLS, clients must trust `self.cert`: set SSL_CERT_FILE to it before creating
        them (both urllib, used by the sendgrid package, and httpx honour it).
        """
        self.api_key = api_key
        self.cert: Path | None = None
        tls_files = None
        if tls:
            self._certdir = tempfile.TemporaryDirectory(prefix="fake-sendgrid-tls-")
            cert, key = make_certificate(Path(self._certdir.name))
            self.cert, tls_files = cert, (str(cert), str(key))
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(
            target=_child,
            args=(child_conn, latency, api_key, tls_files),
            daemon=True,
            name="fake-sendgrid",
        )
        self.process.start()
        child_conn.close()
        # (spawn re-imports the caller's __main__: scripts need an `if __name__ == "__main__"`)
        if not self._conn.poll(60):
            self.process.terminate()
            raise RuntimeError("the fake SendGrid process did not start")
        self.url: str = self._conn.recv()
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def _call(self, *msg: Any) -> Any:
        with self._lock:
            self._conn.send(msg)
            return self._conn.recv()

    def set_latency(self, seconds: float) -> None:
        self._call("latency", seconds)

    def stats(self) -> dict[str, int]:
        return dict(self._call("stats"))

    def last_bodies(self) -> list[Any]:
        return list(self._call("last"))

    def reset(self) -> None:
        self._call("reset")

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self._call("stop")
            except (EOFError, OSError):
                pass
            self.process.join(5)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(5)

    def __enter__(self) -> FakeSendGrid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--api-key", default=API_KEY)
    args = parser.parse_args()
    server = _start_server(args.latency, args.api_key)
    print(f"fake SendGrid at {server.url} (key {args.api_key}, latency {args.latency}s)")
    try:
        while True:
            time.sleep(5)
            with server.state.lock:
                print(f"requests={server.state.requests} accepted={len(server.state.accepted)}")
    except KeyboardInterrupt:
        server.__exit__()


if __name__ == "__main__":
    main()
