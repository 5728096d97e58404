"""`POST /webhooks/sendgrid`: SendGrid's Event Webhook."""

from __future__ import annotations

import json

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from nurture import clock
from nurture.config import get_settings
from nurture.delivery import events
from nurture.web import SessionDep, field_errors

router = APIRouter()


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _queue_processing() -> None:
    from nurture.tasks import process_events

    try:
        process_events.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the next tick processes stored events anyway
        return


@router.post("/webhooks/sendgrid", tags=["webhooks"], status_code=200)
async def sendgrid_events(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> JSONResponse:
    """Store a batch of SendGrid events (all or none) and queue the work they imply."""
    settings = get_settings()
    raw = await request.body()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "malformed_body", "The body is not valid UTF-8.")
    if settings.sendgrid_webhook_public_key:
        try:
            events.verify(
                public_key=settings.sendgrid_webhook_public_key,
                body=body,
                signature=request.headers.get(events.SIGNATURE_HEADER),
                timestamp=request.headers.get(events.TIMESTAMP_HEADER),
                now=clock.now(),
                tolerance_seconds=settings.sendgrid_webhook_tolerance_seconds,
            )
        except events.SignatureError as exc:
            return _error(401, "bad_signature", str(exc))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "unsupported_media_type", "Send the events as application/json.")
    try:
        batch = events.BATCH.validate_python(json.loads(body))
    except json.JSONDecodeError as exc:
        return _error(400, "malformed_json", f"The body is not JSON: {exc}")
    except ValidationError as exc:
        return _error(
            400,
            "invalid_batch",
            "The batch must be a JSON array of events with email, event, sg_event_id and "
            "timestamp; nothing was stored.",
            fields=field_errors(exc.errors()),
        )
    result = events.store(session, events=batch, now=clock.now())
    session.commit()
    if result.stored:
        background.add_task(_queue_processing)
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates})
