"""`POST /webhooks/twilio` (patients' replies) and `/webhooks/twilio/status` (delivery reports).

Both are signed by Twilio (`X-Twilio-Signature`, checked with the `twilio` package's
RequestValidator against the public address Twilio posted to); anything else gets 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_factory
from nurture.delivery import replies
from nurture.http.api_responses import errors

router = APIRouter()
SIGNATURE = "X-Twilio-Signature"
FORM = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    }
}


def _forbidden(message: str) -> JSONResponse:
    return JSONResponse({"error": "bad_signature", "message": message}, status_code=403)


async def _signed_form(request: Request) -> dict[str, str] | JSONResponse:
    """Return the posted form if Twilio signed it for this public address, else a 403."""
    token = get_settings().twilio_auth_token
    if token is None:
        return _forbidden("Twilio is not set up here (NURTURE_TWILIO_AUTH_TOKEN).")
    signature = request.headers.get(SIGNATURE)
    if not signature:
        return _forbidden(f"The request has no {SIGNATURE}.")
    form = {k: str(v) for k, v in (await request.form()).items()}
    # Twilio signs the address it was given (the public one), not the one this process sees
    # behind a proxy.
    url = get_settings().resolved_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        return _forbidden(f"The {SIGNATURE} does not match this request.")
    return form


def _twiml(text: str | None) -> Response:
    answer = MessagingResponse()
    if text:
        answer.message(text)
    return Response(str(answer), media_type="application/xml")


@router.post(
    "/webhooks/twilio",
    tags=["webhooks"],
    openapi_extra=FORM,
    responses=errors([403, 413]),
)
async def twilio_reply(request: Request) -> Response:
    """Act on a patient's text (C, R, STOP, START, HELP, or the studio inbox); answer in TwiML."""
    form = await _signed_form(request)
    if isinstance(form, JSONResponse):
        return form
    answer = await run_in_threadpool(_reply, form)
    return _twiml(answer.text if answer is not None else None)


def _reply(form: dict[str, str]) -> replies.Answer | None:
    with session_factory()() as session:
        answer = replies.handle_reply(
            session,
            sid=form.get("MessageSid") or form.get("SmsSid") or "",
            phone_raw=form.get("From", ""),
            body=form.get("Body", ""),
            now=clock.now(),
        )
        session.commit()
    return answer


def _status(form: dict[str, str], message_id: int | None) -> str:
    with session_factory()() as session:
        result = replies.record_status(session, form=form, message_id=message_id, now=clock.now())
        session.commit()
    return result


@router.post(
    "/webhooks/twilio/status",
    tags=["webhooks"],
    openapi_extra=FORM,
    responses=errors([403, 413, 422]),
)
async def twilio_status(request: Request, m: int | None = None) -> JSONResponse:
    """Record a text's delivery report (queued, sent, delivered, undelivered, failed)."""
    form = await _signed_form(request)
    if isinstance(form, JSONResponse):
        return form
    return JSONResponse({"result": await run_in_threadpool(_status, form, m)})
