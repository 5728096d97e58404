"""SendGrid v3 Mail Send: the payload is built with the `sendgrid` package's Mail helper.

Two transports post it. `pooled` (the default) keeps HTTP connections open across sends with
one shared httpx client; `package` is the `sendgrid` package's own client, which opens a new
connection per request. bench/bench_sendgrid_transport.py measures both; see
docs/benchmarks.md.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from sendgrid.helpers.mail import Attachment as SendGridAttachment
from sendgrid.helpers.mail import (
    Category,
    ClickTracking,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Header,
    Mail,
    OpenTracking,
    ReplyTo,
    To,
    TrackingSettings,
)

from nurture import __version__
from nurture.core.config import Settings
from nurture.delivery.channels import sendgrid_batch as batch
from nurture.delivery.channels.base import (
    ACCOUNT_REFUSED,
    Backend,
    DeliveryError,
    OutgoingEmail,
    PermanentError,
    SendOutcome,
    Sent,
    TransientError,
    UnknownOutcome,
    build_failed,
    checked,
    send_one,
    utc_from_epoch,
)

log = logging.getLogger(__name__)


def build_mail(email: OutgoingEmail) -> Mail:
    """Build the v3 payload with the package's Mail helper (headers checked first)."""
    email = checked(email)
    mail = Mail(
        from_email=From(email.from_email, email.from_name),
        to_emails=To(email.to_email),
        subject=email.subject,
        plain_text_content=email.text,
        html_content=email.html,
    )
    for name, value in email.headers.items():
        mail.header = Header(name, value)
    for key, value in email.custom_args.items():
        mail.custom_arg = CustomArg(key, value)
    for category in email.categories:
        mail.category = Category(category)
    if email.reply_to:
        mail.reply_to = ReplyTo(email.reply_to)
    for item in email.attachments:
        mail.attachment = SendGridAttachment(
            FileContent(base64.b64encode(item.content).decode("ascii")),
            FileName(item.filename),
            FileType(item.mime_type),
            Disposition("attachment"),
        )
    mail.tracking_settings = TrackingSettings(
        click_tracking=ClickTracking(email.track_clicks, email.track_clicks),
        open_tracking=OpenTracking(email.track_opens),
    )
    return mail


def _error_text(body: Any) -> str:
    """Pull SendGrid's `errors[].message` (and field) out of an error body."""
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in data.get("errors", [])
        ]
        return "; ".join(parts) or str(data)
    except (ValueError, AttributeError, TypeError):
        return str(body)[:500]


def raise_for_status(status: int, body: Any, headers: Mapping[str, str] | None) -> None:
    """Map a non-2xx answer onto the delivery error classes."""
    if 200 <= status < 300:
        return
    detail = f"SendGrid {status}: {_error_text(body)}"
    if status == 429:
        reset = utc_from_epoch((headers or {}).get("X-RateLimit-Reset"))
        raise TransientError(detail, retry_at=reset, reason="rate_limited")
    if status >= 500:
        raise TransientError(detail)
    if status in (401, 403):  # the clinic's key or sender, not the recipient
        raise TransientError(detail, reason=ACCOUNT_REFUSED)
    raise PermanentError(detail)


@dataclass(frozen=True, slots=True)
class Answer:
    """SendGrid's answer to one request."""

    status: int
    body: Any
    headers: Mapping[str, str] | None


class _Poster(Backend, Protocol):
    def post(self, body: dict[str, Any]) -> Answer: ...


def _post_many(
    backend: _Poster, emails: Sequence[OutgoingEmail], rounds: int = 3
) -> list[SendOutcome]:
    """Send emails in one request; on a 400 naming some of them, again without those."""
    try:
        answer = backend.post(batch.payload(emails))
        if answer.status == 400 and rounds > 0:
            named = batch.named_personalizations(answer.body)
            if named and len(named) < len(emails) and max(named) < len(emails):
                # Refused whole, so none went: the ones named fail, the others go again.
                rest = [i for i in range(len(emails)) if i not in named]
                again = iter(_post_many(backend, [emails[i] for i in rest], rounds - 1))
                return [
                    PermanentError(f"SendGrid 400: {named[i]}") if i in named else next(again)
                    for i in range(len(emails))
                ]
        raise_for_status(answer.status, answer.body, answer.headers)
    except DeliveryError as exc:
        return [exc for _ in emails]
    message_id = (answer.headers or {}).get("X-Message-Id")
    if not message_id:
        unknown = UnknownOutcome(f"SendGrid answered {answer.status} without X-Message-Id")
        return [unknown for _ in emails]
    return [Sent(str(message_id)) for _ in emails]


def send_batch(
    backend: _Poster,
    emails: Sequence[OutgoingEmail],
    *,
    pool: Executor | None,
    per_request: int = batch.MAX_PERSONALIZATIONS,
) -> list[SendOutcome]:
    """Send emails with shared bodies many to a request, the others one request each."""
    requests, alone = batch.plan(emails, per_request=per_request)
    outcomes: list[SendOutcome | None] = [None] * len(emails)

    def run(indexes: list[int]) -> list[SendOutcome]:
        try:
            return _post_many(backend, [emails[i] for i in indexes])
        except Exception as exc:  # noqa: BLE001 - it may have gone out: settle as unknown
            log.exception("backend %s raised for a request of %d", backend.name, len(indexes))
            what = f"the {backend.name} backend raised {type(exc).__name__}: {exc}"
            return [UnknownOutcome(what) for _ in indexes]

    jobs = requests + [[i] for i in alone]
    singles = set(alone)
    mapper = pool.map if pool is not None else map

    def one(indexes: list[int]) -> list[SendOutcome]:
        if indexes[0] in singles:
            return [send_one(backend, emails[indexes[0]])]
        return run(indexes)

    for indexes, results in zip(jobs, mapper(one, jobs), strict=True):
        for i, outcome in zip(indexes, results, strict=True):
            outcomes[i] = outcome
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


class SendGridBackend(Backend):
    """Posts each email to `<NURTURE_SENDGRID_API_HOST>/v3/mail/send` over pooled connections."""

    name = "sendgrid"

    def __init__(self, settings: Settings, *, max_connections: int | None = None) -> None:
        assert settings.sendgrid_api_key is not None  # checked when settings load
        size = max_connections or max(settings.send_concurrency, 1)
        self.url = f"{settings.sendgrid_api_host}/v3/mail/send"
        self.per_request = settings.sendgrid_batch_size
        self.client = httpx.Client(
            headers={
                "Authorization": f"Bearer {settings.sendgrid_api_key.get_secret_value()}",
                "User-Agent": f"nurture/{__version__}",
            },
            timeout=httpx.Timeout(settings.sendgrid_timeout_seconds),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        )

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; map SendGrid's answers onto the delivery error classes."""
        try:
            payload = build_mail(email).get()
        except Exception as exc:  # noqa: BLE001 - built before any request: nothing was sent
            raise build_failed(exc) from exc
        try:
            response = self.client.post(self.url, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"could not reach SendGrid: {exc!r}", reason="connection") from exc
        except httpx.TransportError as exc:
            # The request may have been written before the connection failed or timed out.
            raise UnknownOutcome(f"no answer from SendGrid after sending: {exc!r}") from exc
        raise_for_status(response.status_code, response.content, response.headers)
        message_id = response.headers.get("X-Message-Id")
        if not message_id:
            raise UnknownOutcome(f"SendGrid answered {response.status_code} without X-Message-Id")
        return str(message_id)

    def post(self, body: dict[str, Any]) -> Answer:
        """Post one Mail Send body; raise a DeliveryError when no answer says what happened."""
        try:
            response = self.client.post(self.url, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"could not reach SendGrid: {exc!r}", reason="connection") from exc
        except httpx.TransportError as exc:
            # The request may have been written before the connection failed or timed out.
            raise UnknownOutcome(f"no answer from SendGrid after sending: {exc!r}") from exc
        return Answer(response.status_code, response.content, response.headers)

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        """Send emails that share a body many to a request; the rest one request each."""
        return send_batch(self, emails, pool=pool, per_request=self.per_request)

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
