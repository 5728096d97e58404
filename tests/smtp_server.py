"""A local SMTP server (aiosmtpd) a test can take down, bring back, or make stall after DATA.

It speaks real SMTP to the real smtplib client in the smtp backend: what it keeps is what a
relay would have queued for delivery.
"""

from __future__ import annotations

import asyncio
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.processes import free_port


class Relay:
    """Keeps every message it accepted; can hold its reply to DATA until released."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.stall_data = False
        self.stalled = threading.Event()  # set once a message is kept and the reply held
        self.release = threading.Event()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)  # queued for delivery: from here it will arrive
        if self.stall_data:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return "250 2.0.0 Ok: queued"

    def messages(self) -> list[EmailMessage]:
        """Parse what was kept, in arrival order."""
        parsed = []
        for envelope in self.envelopes:
            message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


class SMTPServer:
    """An SMTP relay on 127.0.0.1 at a fixed port, which `stop` takes away and `start` restores."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.relay = Relay()
        self.login = login  # (user, password) a client must AUTH with, when set
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen (again) on the same port."""
        extra: dict[str, object] = {}
        if self.login is not None:
            extra = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # the test client speaks plain SMTP on loopback
            }
        self._controller = Controller(self.relay, hostname="127.0.0.1", port=self.port, **extra)
        self._controller.start()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        return AuthResult(success=given == self.login, handled=False)  # the server answers 535

    def stop(self) -> None:
        """Stop listening: connections are refused, as during an outage."""
        self.relay.release.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
