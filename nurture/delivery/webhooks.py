"""`POST /webhooks/sendgrid`: SendGrid's Event Webhook."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_factory
from nurture.delivery import events
from nurture.http.api_responses import errors

router = APIRouter()
# Rows per INSERT and commit: small enough that no write holds SQLite's lock for long.
STORE_CHUNK = 500
MAX_PROBLEMS_SHOWN = 50


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _queue_processing() -> None:
    from nurture.tasks import process_events, publish_quickly

    publish_quickly(process_events)  # the next tick processes stored events anyway


def _receive(raw: bytes, headers: dict[str, str | None]) -> tuple[JSONResponse, int]:
    """Verify, parse and store a batch in chunks; return the answer and how many were new.

    Runs in a worker thread: a batch of thousands of events takes long enough to verify,
    parse and write that doing it on the event loop would stall every other request.
    """
    settings = get_settings()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "malformed_body", "The body is not valid UTF-8."), 0
    if settings.sendgrid_webhook_public_key:
        try:
            events.verify(
                public_key=settings.sendgrid_webhook_public_key,
                body=body,
                signature=headers[events.SIGNATURE_HEADER],
                timestamp=headers[events.TIMESTAMP_HEADER],
                now=clock.now(),
                tolerance_seconds=settings.sendgrid_webhook_tolerance_seconds,
            )
        except events.SignatureError as exc:
            return _error(401, "bad_signature", str(exc)), 0
    if (headers["content-type"] or "").split(";")[0].strip() != "application/json":
        return _error(415, "unsupported_media_type", "Send the events as application/json."), 0
    try:
        batch, skipped = events.parse_batch(body)
    except events.BatchError as exc:
        return _error(400, "invalid_batch", str(exc)), 0
    stored = duplicates = 0
    with session_factory()() as session:
        for start in range(0, len(batch), STORE_CHUNK):
            # One commit per chunk keeps each write short; SendGrid retries a failed batch
            # whole and the events already stored count as duplicates.
            result = events.store(
                session, events=batch[start : start + STORE_CHUNK], now=clock.now()
            )
            session.commit()
            stored += result.stored
            duplicates += result.duplicates
    answer: dict[str, object] = {
        "stored": stored,
        "duplicates": duplicates,
        "skipped": len(skipped),
    }
    if skipped:
        answer["problems"] = [
            {"index": s.index, "message": s.reason} for s in skipped[:MAX_PROBLEMS_SHOWN]
        ]
    return JSONResponse(answer), stored


@router.post(
    "/webhooks/sendgrid",
    tags=["webhooks"],
    status_code=200,
    # The body is read raw (its signature covers the exact bytes), so its shape is declared.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
        }
    },
    responses=errors([400, 401, 413, 415, 503]),
)
async def sendgrid_events(request: Request, background: BackgroundTasks) -> JSONResponse:
    """Store a batch of SendGrid events one by one (bad ones skipped) and queue their work."""
    settings = get_settings()
    if (
        settings.env == "production"
        and not settings.sendgrid_webhook_public_key
        and not settings.sendgrid_webhook_allow_unsigned
    ):
        # Unsigned, anyone could post an `unsubscribe` or `spamreport` for any address.
        return _error(
            503,
            "not_configured",
            "Unsigned events are refused in production: set NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY "
            "(SendGrid's Signed Event Webhook) or, to accept unsigned events anyway, "
            "NURTURE_SENDGRID_WEBHOOK_ALLOW_UNSIGNED=true.",
        )
    raw = await request.body()
    names = (events.SIGNATURE_HEADER, events.TIMESTAMP_HEADER, "content-type")
    headers = {name: request.headers.get(name) for name in names}
    response, stored = await run_in_threadpool(_receive, raw, headers)
    if stored:
        background.add_task(_queue_processing)
    return response
