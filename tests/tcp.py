"""A TCP listener a test controls: it counts connections and either holds them silent (a server
that never answers) or closes them at once (a service that is going away)."""

from __future__ import annotations

import socket
import threading
from typing import Literal

from tests.processes import free_port


class Listener:
    """Accept connections on 127.0.0.1 and count them; `silent` holds them, `close` drops them."""

    def __init__(self, port: int | None = None, *, mode: Literal["silent", "close"]) -> None:
        self.port = port or free_port()
        self.mode = mode
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by __exit__
            self.accepted += 1
            if self.mode == "close":
                conn.close()
            else:
                self._held.append(conn)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        except OSError:
            pass
        self._sock.close()
        for conn in self._held:
            conn.close()
        self._thread.join(timeout=5)
