"""Landing page, signup API, confirmation and unsubscribe routes."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from nurture import clock
from nurture.api_responses import errors, json_body
from nurture.config import get_settings
from nurture.leads import service, throttle
from nurture.leads.models import NumbnessType
from nurture.leads.schemas import SubscribeAccepted, SubscribeRequest
from nurture.pages import message_page, render_page
from nurture.rendering.safety import SAFETY
from nurture.tasks import nudge
from nurture.tokens import InvalidToken
from nurture.web import SessionDep, field_errors, validation_response

router = APIRouter()

TYPE_CHOICES = [
    (NumbnessType.ACUTE.value, "It started recently", "It came on suddenly and tends to pass."),
    (
        NumbnessType.CHRONIC.value,
        "It has lasted a long time",
        "It has been there for weeks or months, or never fully goes away.",
    ),
    (
        NumbnessType.INTERMITTENT.value,
        "It comes and goes",
        "It appears now and then and is hard to predict.",
    ),
    (NumbnessType.UNSURE.value, "I'm not sure", "We will help you work out which fits."),
]
LABELS = {
    "first_name": "First name",
    "email": "Email address",
    "numbness_type": "Kind of numbness",
    "timezone": "Time zone",
    "consent": "Consent",
}


def _throttled(request: Request, data: SubscribeRequest) -> int | None:
    ip = request.client.host if request.client else None
    return throttle.allow_signup(ip=ip, email=data.email)


def _meta(request: Request, source: str) -> service.SignupMeta:
    return service.SignupMeta(
        source=source,
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _accept(
    session: SessionDep, background: BackgroundTasks, data: SubscribeRequest, meta: Any
) -> None:
    if data.website:
        return  # the hidden honeypot field was filled in: a bot; answer as usual, keep nothing
    planned = service.subscribe(session, request=data, meta=meta, now=clock.now())
    session.commit()
    if planned is not None:
        background.add_task(nudge)


def _landing(
    request: Request, *, form: dict[str, str], errors: dict[str, str], status: int
) -> HTMLResponse:
    settings = get_settings()
    return render_page(
        request,
        "landing.html",
        status,
        form=form,
        errors=errors,
        types=TYPE_CHOICES,
        labels=LABELS,
        consent_text=service.CONSENT_TEXT,
        consent_version=service.CONSENT_VERSION,
        clinic_timezone=settings.clinic_timezone,
        safety=SAFETY,  # the same warning signs the emails carry
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def landing(request: Request) -> HTMLResponse:
    """Show the signup page."""
    empty = {"first_name": "", "email": "", "numbness_type": "", "timezone": ""}
    return _landing(request, form=empty, errors={}, status=200)


@router.post("/subscribe", response_class=HTMLResponse, include_in_schema=False)
async def subscribe_form(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> HTMLResponse:
    """Take the landing page's form post; show errors beside their fields."""
    if not request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        return message_page(
            request,
            title="Unsupported form",
            message="Please use the signup form on our page.",
            status_code=415,
        )
    raw = await request.form()
    form = {
        k: str(raw.get(k, ""))[:300] for k in ("first_name", "email", "numbness_type", "timezone")
    }
    data = {**form, "consent": raw.get("consent") == "true"}
    try:
        parsed = SubscribeRequest.model_validate(
            {**data, "website": str(raw.get("website", "")) or None}
        )
    except ValidationError as exc:
        return _landing(request, form=form, errors=field_errors(exc.errors()), status=422)
    retry = _throttled(request, parsed)
    if retry is not None:
        return message_page(
            request,
            title="Please wait a moment",
            message=f"Too many signups from here just now. Please try again in {retry} seconds.",
            status_code=429,
        )
    _accept(session, background, parsed, _meta(request, str(request.url.path)))
    return message_page(
        request,
        title="Check your inbox",
        message="We have sent you an email with a link. Click it to confirm your address, "
        "and your first guide will follow.",
    )


@router.post(
    "/api/subscribe",
    status_code=202,
    response_model=SubscribeAccepted,
    tags=["signup"],
    openapi_extra=json_body(SubscribeRequest),
    responses=errors(
        [400, 413, 415, 422, 429],
        s400="The body is not valid UTF-8 JSON.",
        s413="The body is larger than 16 KiB.",
        s429="Too many signups from this client or for this address.",
    ),
)
async def subscribe_api(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> Response:
    """Sign a lead up; the same 202 answers new and known addresses alike."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse(
            {"error": "unsupported_media_type", "message": "Send the body as application/json."},
            status_code=415,
        )
    try:
        payload = json.loads((await request.body()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JSONResponse(
            {"error": "malformed_json", "message": f"The body is not valid UTF-8 JSON: {exc}"},
            status_code=400,
        )
    except ValueError:
        # Python refuses to read integers of thousands of digits (int_max_str_digits).
        return JSONResponse(
            {"error": "malformed_json", "message": "The body holds a number with too many digits."},
            status_code=400,
        )
    if not isinstance(payload, dict):
        return JSONResponse(
            {"error": "malformed_json", "message": "The body must be a JSON object."},
            status_code=400,
        )
    try:
        data = SubscribeRequest.model_validate(payload)
    except ValidationError as exc:
        return validation_response(exc.errors())
    retry = _throttled(request, data)
    if retry is not None:
        return JSONResponse(
            {"error": "rate_limited", "message": f"Too many signups; retry in {retry} seconds."},
            status_code=429,
            headers={"Retry-After": str(retry)},
        )
    _accept(session, background, data, _meta(request, request.headers.get("origin") or "api"))
    return JSONResponse(SubscribeAccepted().model_dump(), status_code=202)


@router.get("/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Follow a confirmation link: activate the lead and start its emails."""
    try:
        outcome, lead = service.confirm(session, token=token, now=clock.now())
    except InvalidToken as exc:
        session.rollback()
        hint = (
            "Sign up again on our page to get a fresh link."
            if exc.expired
            else ("Please check that you copied the whole link, or sign up again for a fresh one.")
        )
        return message_page(
            request, title="This link does not work", message=f"{exc} {hint}", status_code=400
        )
    session.commit()
    if outcome is service.ConfirmOutcome.CONFIRMED:
        nudge()
        return message_page(
            request,
            title=f"You're confirmed, {lead.first_name}",
            message="Thank you. Your first email is on its way.",
        )
    return message_page(
        request, title="Already confirmed", message="Your email address was already confirmed."
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a one-button unsubscribe page (a GET never changes anything)."""
    try:
        service.lead_from_token(session, "unsubscribe", token)
    except InvalidToken as exc:
        return message_page(
            request, title="This link does not work", message=str(exc), status_code=400
        )
    return render_page(
        request,
        "unsubscribe.html",
        title="Unsubscribe",
        message="Press the button to stop all marketing emails from us.",
        show_button=True,
    )


@router.post("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Unsubscribe at once; this is also the RFC 8058 one-click target (no cookie, no login)."""
    try:
        lead = service.lead_from_token(session, "unsubscribe", token)
    except InvalidToken as exc:
        return message_page(
            request, title="This link does not work", message=str(exc), status_code=400
        )
    service.unsubscribe(session, lead=lead, now=clock.now())
    session.commit()
    return render_page(
        request,
        "unsubscribe.html",
        title="You're unsubscribed",
        message="You will not get any more marketing emails from us.",
        show_button=False,
    )


def _lead_or_page(
    session: SessionDep, request: Request, token: str
) -> tuple[Any, HTMLResponse | None]:
    try:
        return service.lead_from_token(session, "preferences", token), None
    except InvalidToken as exc:
        page = message_page(
            request, title="This link does not work", message=str(exc), status_code=400
        )
        return None, page


def _preferences(
    request: Request, lead: Any, notice: str | None = None, status: int = 200
) -> HTMLResponse:
    paused = lead.paused_until if lead.paused_until and lead.paused_until > clock.now() else None
    return render_page(
        request,
        "preferences.html",
        status,
        title="Email preferences",
        types=TYPE_CHOICES,
        current=lead.numbness_type,
        notice=notice,
        paused_until=f"{paused:%d %B %Y}" if paused else None,
    )


@router.get("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
def preferences_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a lead's preferences (reached from a signed link in every marketing email)."""
    lead, error = _lead_or_page(session, request, token)
    return error or _preferences(request, lead)


@router.post("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
async def preferences_update(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Change type, pause, unsubscribe or delete, as the pressed button says."""
    lead, error = _lead_or_page(session, request, token)
    if error is not None:
        return error
    form = await request.form()
    action = str(form.get("action", ""))
    now = clock.now()
    if action == "type":
        choice = str(form.get("numbness_type", ""))
        if choice not in {t[0] for t in TYPE_CHOICES}:
            return _preferences(request, lead, "Please pick one of the options.", 422)
        changed = service.change_type(session, lead=lead, numbness_type=choice, now=now)
        notice = "Saved. Your next emails will match." if changed else "No change needed."
    elif action in ("pause2", "pause4"):
        until = service.pause(session, lead=lead, weeks=int(action[-1]), now=now)
        notice = f"Paused. We'll be back in touch after {until:%d %B %Y}."
    elif action == "unsubscribe":
        service.unsubscribe(session, lead=lead, now=now)
        session.commit()
        return message_page(
            request,
            title="You're unsubscribed",
            message="You will not get any more marketing emails from us.",
        )
    elif action == "delete":
        if form.get("confirm_delete") != "yes":
            return _preferences(
                request, lead, "Tick the box to confirm that you want your data deleted.", 422
            )
        service.erase(session, lead=lead, now=now)
        session.commit()
        return message_page(
            request,
            title="Your data is deleted",
            message="We removed your details. We keep only a note of your address so that we "
            "never email it again.",
        )
    else:
        return _preferences(request, lead, "Please use one of the buttons.", 422)
    session.commit()
    return _preferences(request, lead, notice)
