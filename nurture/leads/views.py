"""Landing page, signup API, confirmation and unsubscribe routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from nurture.clinic import service as clinic
from nurture.core import clock, jsonread
from nurture.core.config import get_settings
from nurture.core.dispatch import nudge
from nurture.core.tokens import InvalidToken
from nurture.core.translations import current_language, set_language
from nurture.core.translations import gettext as _
from nurture.http.api_responses import errors, json_body
from nurture.http.deps import SessionDep
from nurture.http.errors import validation_response
from nurture.http.language import for_lead
from nurture.http.pages import link_problem_page, message_page, render_page
from nurture.leads import inbox, preferences, service, throttle
from nurture.leads.choices import TYPE_CHOICES
from nurture.leads.form_errors import plain_errors
from nurture.leads.models import LeadStatus
from nurture.leads.schemas import SubscribeAccepted, SubscribeRequest, without_unusual
from nurture.leads.zones import ZONE_GROUPS, ZONE_VALUES
from nurture.locations import service as locations
from nurture.rendering.safety import safety_for

router = APIRouter()


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
) -> int | None:
    """Record the signup; return the id of the consent it recorded, if any."""
    if data.website:
        return None  # the hidden honeypot field was filled in: a bot; answer as usual, keep nothing
    consent = service.subscribe(session, request=data, meta=meta, now=clock.now())
    session.commit()
    if consent is None:
        return None
    background.add_task(nudge)
    return consent.id


def _landing(
    request: Request, *, form: dict[str, str], errors: dict[str, str], status: int
) -> HTMLResponse:
    settings = get_settings()
    chosen = form.get("timezone") or settings.clinic_timezone
    return render_page(
        request,
        "landing.html",
        status,
        form=form,
        errors=errors,
        types=TYPE_CHOICES,
        consent_text=_(service.CONSENT_TEXT),
        consent_version=service.CONSENT_VERSION,
        clinic_timezone=settings.clinic_timezone,
        zone_groups=ZONE_GROUPS,
        chosen_zone=chosen,
        # A zone the list lacks (an old alias a browser reported) is offered back as chosen.
        extra_zone=chosen if chosen not in ZONE_VALUES else None,
        safety=safety_for(current_language()),  # the warning signs the emails carry, in its words
        sites=locations.sites(),
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def landing(request: Request) -> HTMLResponse:
    """Show the signup page."""
    # A location's own link (?location=south) starts with that location chosen.
    wanted = locations.match(request.query_params.get("location", "")[:200])
    empty = {
        "first_name": "",
        "email": "",
        "numbness_type": "",
        "timezone": "",
        "location": wanted.key if wanted else "",
    }
    return _landing(request, form=empty, errors={}, status=200)


@router.post("/subscribe", response_class=HTMLResponse, include_in_schema=False)
async def subscribe_form(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> Response:
    """Take the landing page's form post; show errors beside their fields.

    A good signup is answered with a redirect to its check-inbox page, so reloading that page
    never signs up twice.
    """
    if not request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        return message_page(
            request,
            title=_("Unsupported form"),
            message=_("Please use the signup form on our page."),
            status_code=415,
        )
    raw = await request.form()
    form = {
        k: str(raw.get(k, ""))[:300]
        for k in ("first_name", "email", "numbness_type", "timezone", "location")
    }
    # The language the form was shown in; the page answers in it too (errors, check inbox).
    # A form without the field (a page from before languages) is the request's language.
    posted = str(raw.get("language", ""))[:35]
    shown_in = set_language(posted) if posted else current_language()
    data = {**form, "consent": raw.get("consent") == "true", "language": shown_in}
    try:
        parsed = SubscribeRequest.model_validate(
            {**data, "website": str(raw.get("website", "")) or None}
        )
    except ValidationError as exc:
        shown = {k: without_unusual(v) for k, v in form.items()}  # never echo control characters
        return _landing(request, form=shown, errors=plain_errors(exc.errors()), status=422)
    retry = _throttled(request, parsed)
    if retry is not None:
        return message_page(
            request,
            title=_("Please wait a moment"),
            message=_(
                "Too many signups from here just now. Please try again in %(seconds)s seconds."
            )
            % {"seconds": retry},
            status_code=429,
        )
    consent_id = _accept(session, background, parsed, _meta(request, str(request.url.path)))
    sealed = inbox.seal_signup(parsed, consent_id=consent_id, bot=bool(parsed.website))
    return inbox.to_check_inbox(sealed)


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
        payload = jsonread.loads(await request.body())
    except jsonread.JsonBodyError as exc:
        return JSONResponse(exc.answer(), status_code=exc.status)
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


def _bad_confirm_link(request: Request, exc: InvalidToken) -> HTMLResponse:
    hint = (
        _("Sign up again on our page to get a fresh link.")
        if exc.expired
        else _("Please check that you copied the whole link, or sign up again for a fresh one.")
    )
    return link_problem_page(request, message=f"{_(str(exc))} {hint}")


@router.get("/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show one Confirm button; a GET changes nothing, so mail scanners confirm nobody."""
    try:
        lead = service.lead_to_confirm(session, token=token)
    except InvalidToken as exc:
        return _bad_confirm_link(request, exc)
    for_lead(lead.language)
    return render_page(
        request,
        "confirm.html",
        title=_("One last step, %(name)s") % {"name": lead.first_name},
        already=lead.status == LeadStatus.ACTIVE,
    )


@router.post("/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Take the Confirm button: activate the lead and start its emails (again: no change)."""
    try:
        outcome, lead = service.confirm(session, token=token, now=clock.now())
    except InvalidToken as exc:
        session.rollback()
        return _bad_confirm_link(request, exc)
    session.commit()
    for_lead(lead.language)
    confirmed = outcome is service.ConfirmOutcome.CONFIRMED
    if confirmed:
        nudge()
    emails, days = service.drip_outline(session, lead_id=lead.id)
    plan = None
    if emails > 1 and days > 0:
        plan = {
            "emails": emails,
            "weeks": max(1, round(days / 7)),
            "every": max(1, round(days / (emails - 1))),
        }
    return render_page(
        request,
        "confirmed.html",
        title=_("You're confirmed, %(name)s") % {"name": lead.first_name}
        if confirmed
        else _("Already confirmed"),
        message=_("Thank you for confirming your email address.")
        if confirmed
        else _("Your email address was already confirmed; there is nothing more to do."),
        plan=plan,
        booking_url=clinic.effective().booking_url,
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a one-button unsubscribe page (a GET never changes anything)."""
    try:
        lead = service.lead_from_token(session, "unsubscribe", token)
    except InvalidToken as exc:
        return link_problem_page(request, message=_(str(exc)))
    for_lead(lead.language)
    return render_page(
        request,
        "unsubscribe.html",
        title=_("Unsubscribe"),
        message=_(
            "Press the button to stop all marketing emails from us. If you booked a visit,"
            " you will still get its confirmation and reminders."
        ),
        show_button=True,
        everything_action=f"/unsubscribe/{token}/everything",
    )


@router.post("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Unsubscribe at once; this is also the RFC 8058 one-click target (no cookie, no login)."""
    try:
        lead = service.lead_from_token(session, "unsubscribe", token)
    except InvalidToken as exc:
        return link_problem_page(request, message=_(str(exc)))
    for_lead(lead.language)
    service.unsubscribe(session, lead=lead, now=clock.now())
    session.commit()
    return inbox.unsubscribed_page(request, resubscribe_action=f"/unsubscribe/{token}/resubscribe")


@router.post("/unsubscribe/{token}/everything", include_in_schema=False)
def unsubscribe_everything(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Stop every email, the reminders of booked visits too (the patient's explicit choice)."""
    try:
        lead = service.lead_from_token(session, "unsubscribe", token)
    except InvalidToken as exc:
        return link_problem_page(request, message=_(str(exc)))
    for_lead(lead.language)
    service.stop_everything(session, lead=lead, now=clock.now())
    session.commit()
    return message_page(
        request,
        title=_("You will get no more emails from us"),
        message=_(
            "Not even reminders of a visit you booked. To hear from us again, call or write to"
            " the clinic."
        ),
    )


router.include_router(inbox.router)
router.include_router(preferences.router)
