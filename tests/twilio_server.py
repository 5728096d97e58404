"""A local HTTP server that speaks Twilio's Messages API, for tests.

Shapes built from Twilio's own sources: the Messages resource reference
(twilio.com/docs/messaging/api/message-resource: the create parameters To, From,
MessagingServiceSid, Body, StatusCallback; the resource's properties; 201 on create) and the
`twilio` package (twilio/rest/api/v2010/account/message/__init__.py posts those form fields to
/2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP basic auth; twilio/base/version.py
reads `code`, `message` and `more_info` from a non-2xx JSON body into TwilioRestException).
Error codes from Twilio's error dictionary: 20003 authentication, 21211 invalid 'To' number,
21602 body required, 21603/21604 sender or recipient missing, 21610 recipient unsubscribed,
20429 too many requests.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from base64 import b64decode
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-twilio-auth-token-0123456789"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")


@dataclass
class Scripted:
    """One forced answer: a status with Twilio's error body, or a stall before answering."""

    status: int = 500
    code: int | None = None
    delay: float = 0.0
    accept: bool = False  # stall, then accept normally (a timeout after the send went out)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Return Twilio's error body for `code`."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class TwilioState:
    """What the server has accepted, and how it should misbehave next."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.lock = threading.Lock()
        self.accepted: list[dict[str, str]] = []
        self.requests = 0
        self.script: deque[Scripted] = deque()
        # Numbers that replied STOP to the sender: Twilio refuses them with 21610.
        self.unsubscribed: set[str] = set()
        self.latency = 0.0  # seconds each create takes, to catch a worker mid-batch

    def outbox_ids(self) -> list[str]:
        """Return Nurture's outbox row id (the `m` of each StatusCallback), in arrival order."""
        with self.lock:
            callbacks = [m.get("StatusCallback", "") for m in self.accepted]
        return [
            urllib.parse.parse_qs(urllib.parse.urlsplit(u).query).get("m", [""])[0]
            for u in callbacks
        ]

    def bodies_to(self, phone: str) -> list[str]:
        """Return the body of every accepted text to `phone`, in arrival order."""
        with self.lock:
            return [m["Body"] for m in self.accepted if m["To"] == phone]

    def signed(self, url: str, params: dict[str, str]) -> str:
        """Return the X-Twilio-Signature Twilio computes for a POST of `params` to `url`."""
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def status_callback(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> tuple[str, dict[str, str]]:
        """Return the callback URL and form Twilio posts when text `sid` reaches `status`.

        Fields per Twilio's "Outbound Message Status in Status Callbacks" reference.
        """
        with self.lock:
            sent = next(m for m in self.accepted if m["sid"] == sid)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": sent.get("From", ""),
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": sent["To"],
        }
        if sent.get("MessagingServiceSid"):
            params["MessagingServiceSid"] = sent["MessagingServiceSid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return sent["StatusCallback"], params


def _handler(state: TwilioState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a stall test): the answer is lost

        def _authorised(self, sid: str) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            user, _, password = b64decode(header[6:]).decode().partition(":")
            return user == state.account_sid == sid and password == state.auth_token

        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            match = PATH.match(self.path)
            with state.lock:
                state.requests += 1
                scripted = state.script.popleft() if state.script else None
            if match is None:
                self._answer(404, error_body(404, 20404, "The requested resource was not found"))
                return
            if not self._authorised(match["sid"]):
                self._answer(401, error_body(401, 20003, "Authenticate"))
                return
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
            if scripted is not None:
                if scripted.delay and not scripted.accept:
                    time.sleep(scripted.delay)
                if not scripted.accept:
                    code = scripted.code or (20429 if scripted.status == 429 else 20500)
                    self._answer(scripted.status, error_body(scripted.status, code, "scripted"))
                    return
            to = form.get("To", "")
            if not to:
                self._answer(400, error_body(400, 21604, "A 'To' phone number is required."))
                return
            if not E164.match(to):
                message = f"The 'To' number {to} is not a valid phone number."
                self._answer(400, error_body(400, 21211, message))
                return
            if not form.get("From") and not form.get("MessagingServiceSid"):
                self._answer(400, error_body(400, 21603, "A 'From' phone number is required."))
                return
            if not form.get("Body"):
                self._answer(400, error_body(400, 21602, "Message body is required."))
                return
            if to in state.unsubscribed:
                message = "Attempt to send to unsubscribed recipient"
                self._answer(400, error_body(400, 21610, message))
                return
            if state.latency:
                time.sleep(state.latency)
            sid = "SM" + secrets.token_hex(16)
            base = f"/2010-04-01/Accounts/{state.account_sid}/Messages"
            now = formatdate(usegmt=True)
            with state.lock:
                state.accepted.append({"sid": sid, **form})
            if scripted is not None and scripted.accept:
                # Twilio has created the message; its answer is what gets lost in the stall.
                time.sleep(scripted.delay)
            self._answer(
                201,
                {
                    "account_sid": state.account_sid,
                    "api_version": "2010-04-01",
                    "body": form["Body"],
                    "date_created": now,
                    "date_sent": None,
                    "date_updated": now,
                    "direction": "outbound-api",
                    "error_code": None,
                    "error_message": None,
                    "from": form.get("From"),
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "num_media": "0",
                    "num_segments": "0" if form.get("MessagingServiceSid") else "1",
                    "price": None,
                    "price_unit": "USD",
                    "sid": sid,
                    "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                    "subresource_uris": {"media": f"{base}/{sid}/Media.json"},
                    "to": to,
                    "uri": f"{base}/{sid}.json",
                },
            )

    return Handler


class _Listener(ThreadingHTTPServer):
    # Twilio accepts many connections at once; socketserver's default backlog of 5 reset
    # connections of a busy test that Twilio would have taken.
    request_queue_size = 128


class TwilioServer:
    """Run the fake Messages API on 127.0.0.1 in a background thread."""

    def __init__(self) -> None:
        self.state = TwilioState()
        self.httpd = _Listener(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to use as NURTURE_TWILIO_API_BASE."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> TwilioServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
