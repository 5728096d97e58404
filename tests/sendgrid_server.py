"""A local HTTP server that speaks SendGrid's v3 Mail Send protocol, for tests and benchmarks.

It checks the bearer key, validates the request body the way the real endpoint does for the
fields Nurture uses, answers 202 with `X-Message-Id`, 400 with SendGrid's error body, 401 for a
bad key, 413 for oversized bodies, 429 with `X-RateLimit-*` headers when its per-second limit
is exceeded, and any scripted status (5xx) or delay a test asks for.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 30 * 1000 * 1000
MAX_PERSONALIZATIONS = 1000
MAX_CUSTOM_ARGS = 10_000
MAX_SUBSTITUTIONS = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


@dataclass
class Scripted:
    """One forced answer: a status (with optional headers/body) or a stall before answering."""

    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    accept: bool = False  # stall, then accept normally (a timeout after the send went out)


class SendGridState:
    """What the server has received, and how it should misbehave next."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.script: deque[Scripted] = deque()
        self.latency = 0.0
        self.rate_limit: int | None = None
        # Once this many emails are accepted, hold each later request after accepting it
        # (its emails went out) and before answering, until `release` is set: a client killed
        # meanwhile dies with its request in flight. `held` counts the requests waiting.
        self.hold_after: int | None = None
        self.held = 0
        self.release = threading.Event()
        # GET /v3/suppression/<list>: entries as SendGrid returns them.
        self.suppression_lists: dict[str, list[dict[str, Any]]] = {
            "bounces": [],
            "spam_reports": [],
            "unsubscribes": [],
        }
        self._window_start = 0
        self._window_count = 0

    def emails(self) -> list[dict[str, Any]]:
        """Return every accepted email as its recipient gets it, one per personalization.

        Message-level fields are merged with the personalization's own (which win), and the
        personalization's substitutions are made in the content, as SendGrid does.
        """
        with self.lock:
            requests = list(self.accepted)
        return [email for body in requests for email in explode(body)]

    def recipients(self) -> list[str]:
        """Return the `to` address of every accepted email, in arrival order."""
        return [e["to"][0]["email"] for e in self.emails()]

    def custom_ids(self) -> list[str]:
        """Return Nurture's message id from each accepted email's custom_args."""
        return [e["custom_args"].get("nurture_message_id", "") for e in self.emails()]


def explode(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn one accepted request into the emails it makes, one per personalization."""
    emails = []
    for p in body["personalizations"]:
        subs = p.get("substitutions") or {}

        def made(value: str, subs: dict[str, str] = subs) -> str:
            for key, replacement in subs.items():
                value = value.replace(key, replacement)
            return value

        email = {k: v for k, v in body.items() if k != "personalizations"}
        email["to"] = p["to"]
        email["subject"] = p.get("subject", body.get("subject"))
        email["headers"] = {**(body.get("headers") or {}), **(p.get("headers") or {})}
        email["custom_args"] = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
        email["content"] = [{**c, "value": made(c["value"])} for c in body.get("content") or []]
        emails.append(email)
    return emails


def _errors(*items: tuple[str | None, str]) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": msg,
                "field": fld,
                "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html",
            }
            for fld, msg in items
        ]
    }


def validate_mail(body: Any) -> list[tuple[str | None, str]]:
    """Return (field, message) for every problem SendGrid would report in a mail/send body."""
    if not isinstance(body, dict):
        return [(None, "Bad Request")]
    problems: list[tuple[str | None, str]] = []
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not pers:
        problems.append(
            (
                "personalizations",
                "The personalizations field is required and must "
                "have at least one personalization.",
            )
        )
    elif len(pers) > MAX_PERSONALIZATIONS:
        problems.append(
            (
                "personalizations",
                f"The personalization block is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(pers)} "
                "personalizations. Please consider splitting this into multiple requests and "
                "resending your request.",
            )
        )
    else:
        problems += _check_personalizations(body, pers)
        for i, p in enumerate(pers):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                problems.append(
                    (
                        f"personalizations.{i}.to",
                        "The to array is required for all "
                        "personalization objects, and must have at least one email "
                        "object with a valid email address.",
                    )
                )
                continue
            for j, r in enumerate(to):
                if not isinstance(r, dict) or "@" not in str(r.get("email", "")):
                    problems.append(
                        (f"personalizations.{i}.to.{j}.email", "Does not contain a valid address.")
                    )
    sender = body.get("from")
    if not isinstance(sender, dict) or "@" not in str(sender.get("email", "")):
        problems.append(
            (
                "from.email",
                "The from object must be provided for every email send. "
                "It is an object that requires the email parameter, but may also "
                "contain a name parameter.",
            )
        )
    every_subject = isinstance(pers, list) and all(
        isinstance(p, dict) and p.get("subject") for p in pers
    )
    if not body.get("subject") and not body.get("template_id") and not every_subject:
        problems.append(
            (
                "subject",
                "The subject is required. You can get around this "
                "requirement if you use a template with a subject defined or if "
                "every personalization has a subject defined.",
            )
        )
    content = body.get("content")
    if not body.get("template_id"):
        if not isinstance(content, list) or not content:
            problems.append(
                (
                    "content",
                    "Unless a valid template_id is provided, the content "
                    "parameter is required. There must be at least one defined "
                    "content block.",
                )
            )
        else:
            types = [c.get("type") for c in content if isinstance(c, dict)]
            if "text/plain" in types and types[0] != "text/plain":
                problems.append(
                    (
                        "content.0.type",
                        "If present, text/plain content must be "
                        "first, followed by any other content.",
                    )
                )
            for k, c in enumerate(content):
                if not isinstance(c, dict) or not c.get("value"):
                    problems.append(
                        (
                            f"content.{k}.value",
                            "The content value must be a string at least one character in length.",
                        )
                    )
    for name in body.get("headers") or {}:
        if name.lower() in RESERVED_HEADERS:
            problems.append((f"headers.{name}", "This header is reserved and cannot be set."))
    for key, value in (body.get("custom_args") or {}).items():
        if not isinstance(value, str):
            problems.append((f"custom_args.{key}", "Custom args values must be strings."))
    return problems


def _check_personalizations(body: dict[str, Any], pers: list[Any]) -> list[tuple[str, str]]:
    """SendGrid's per-personalization limits: addresses once, sizes of args and substitutions."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    message_args = body.get("custom_args") or {}
    for i, p in enumerate(pers):
        if not isinstance(p, dict):
            continue
        for j, r in enumerate(p.get("to") or []):
            address = str(r.get("email", "")).lower() if isinstance(r, dict) else ""
            if address in seen:
                problems.append(
                    (
                        f"personalizations.{i}.to.{j}.email",
                        "Each unique email address in the personalizations array should only "
                        f"be included once. You have included {address} more than once.",
                    )
                )
            seen.add(address)
        args = {**message_args, **(p.get("custom_args") or {})}
        if len(json.dumps(args).encode()) >= MAX_CUSTOM_ARGS:
            problems.append(
                (
                    f"personalizations.{i}.custom_args",
                    f"The total length of custom arguments must be less than {MAX_CUSTOM_ARGS} "
                    "bytes.",
                )
            )
        subs = p.get("substitutions") or {}
        if len(subs) > 100 or len(json.dumps(subs).encode()) > MAX_SUBSTITUTIONS:
            problems.append(
                (
                    f"personalizations.{i}.substitutions",
                    "The substitutions of a personalization may not exceed "
                    f"{MAX_SUBSTITUTIONS} bytes (and 100 substitutions) in total.",
                )
            )
        for name in p.get("headers") or {}:
            if name.lower() in RESERVED_HEADERS:
                problems.append(
                    (
                        f"personalizations.{i}.headers.{name}",
                        "This header is reserved and cannot be set.",
                    )
                )
    return problems


def _handler(state: SendGridState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _answer(
            self,
            status: int,
            body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None,
        ) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path, _, query = self.path.partition("?")
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._answer(
                    401,
                    _errors(
                        (None, "The provided authorization grant is invalid, expired, or revoked")
                    ),
                )
                return
            name = path.rstrip("/").removeprefix("/v3/suppression/")
            if name not in state.suppression_lists:
                self._answer(404, _errors((None, "resource not found")))
                return
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            limit, offset = int(params.get("limit", 500)), int(params.get("offset", 0))
            entries = state.suppression_lists[name][offset : offset + limit]
            payload = json.dumps(entries).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, _errors((None, "Payload Too Large")))
                return
            raw = self.rfile.read(length)
            with state.lock:
                state.requests += 1
                scripted = state.script.popleft() if state.script else None
            if state.latency:
                time.sleep(state.latency)
            if self.path.rstrip("/") != "/v3/mail/send":
                self._answer(404, _errors((None, "resource not found")))
                return
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._answer(
                    401,
                    _errors(
                        (None, "The provided authorization grant is invalid, expired, or revoked")
                    ),
                )
                return
            if scripted is not None:
                time.sleep(scripted.delay)
                if not scripted.accept:
                    self._answer(
                        scripted.status,
                        scripted.body or _errors((None, "Internal server error")),
                        scripted.headers,
                    )
                    return
            if state.rate_limit is not None and self._over_limit():
                reset = int(time.time()) + 1
                self._answer(
                    429,
                    _errors((None, "too many requests")),
                    {
                        "X-RateLimit-Limit": str(state.rate_limit),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(reset),
                    },
                )
                return
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                self._answer(415, _errors((None, "Content-Type should be application/json.")))
                return
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._answer(400, _errors((None, "Bad Request")))
                return
            problems = validate_mail(body)
            if problems:
                self._answer(400, _errors(*problems))
                return
            with state.lock:
                state.accepted.append(body)
                sent = sum(len(b.get("personalizations") or ()) for b in state.accepted)
                hold = state.hold_after is not None and sent > state.hold_after
                state.held += hold
            if hold:
                state.release.wait(120)
                with state.lock:
                    state.held -= 1
            self._answer(202, None, {"X-Message-Id": uuid.uuid4().hex[:22]})

        def _over_limit(self) -> bool:
            now = int(time.time())
            with state.lock:
                if now != state._window_start:
                    state._window_start, state._window_count = now, 0
                state._window_count += 1
                return state._window_count > (state.rate_limit or 0)

    return Handler


class _Listener(ThreadingHTTPServer):
    # A real API accepts many connections at once; socketserver's default backlog of 5
    # makes a busy test drop connections that a real provider would take.
    request_queue_size = 128


class SendGridServer:
    """Run the fake API on 127.0.0.1 in a background thread."""

    def __init__(self, api_key: str = "SG.test-key") -> None:
        self.state = SendGridState(api_key)
        self.httpd = _Listener(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to use as NURTURE_SENDGRID_API_HOST."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SendGridServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
