"""The pages after a signup: check your inbox, send the link again, fix a mistyped address,
and coming back after unsubscribing (a new confirmation email: double opt-in again)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from nurture.clinic import service as clinic
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.dispatch import nudge
from nurture.core.tokens import InvalidToken
from nurture.core.translations import N_, current_language
from nurture.core.translations import gettext as _
from nurture.http.deps import SessionDep
from nurture.http.language import for_lead
from nurture.http.pages import link_problem_page, message_page, render_page
from nurture.leads import service, throttle, ticket
from nurture.leads.form_errors import plain_errors
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.schemas import SubscribeRequest, without_unusual
from nurture.leads.suppressions import reason_for

router = APIRouter(include_in_schema=False)

CHECK_INBOX = "/subscribe/sent"
# Fixed wording chosen by a short code in the URL, so the URL cannot put words on the page.
NOTICES = {
    "resent": N_(
        "If that address still needs confirming, a new link is on its way. "
        "It can take a few minutes to arrive."
    ),
    "corrected": N_(
        "Thanks. We have sent the link to the corrected address instead, and the "
        "signup with the mistyped one is cancelled."
    ),
    "again": N_("We have sent you a new link. Nothing restarts until you click it."),
}


def client_ip(request: Request) -> str | None:
    """The address the request came from, as the consent record and rate limits see it."""
    return request.client.host if request.client else None


def signup_meta(request: Request, source: str) -> service.SignupMeta:
    """Where a signup came from, for its consent record."""
    return service.SignupMeta(
        source=source, ip_address=client_ip(request), user_agent=request.headers.get("user-agent")
    )


def seal_signup(
    data: SubscribeRequest, *, consent_id: int | None, bot: bool = False, origin: str | None = None
) -> str:
    """The ticket for the check-inbox page of this signup (`origin`: the ticket corrected)."""
    return _seal(
        data.email,
        data.first_name,
        str(data.numbness_type),
        data.timezone,
        consent_id,
        bot,
        origin,
        language=data.language,
        location=data.location,
    )


def _seal(
    email: str,
    name: str,
    kind: str,
    zone: str | None,
    consent_id: int | None,
    bot: bool,
    origin: str | None = None,
    *,
    language: str | None = None,
    location: str | None = None,
) -> str:
    # Fixed-width fields: the ticket's length must not tell a new address from a known one
    # (no consent recorded) or a bot from a person. "o" names the first ticket of a chain of
    # corrections, so that its daily cap holds however many times the address is corrected.
    return ticket.seal(
        {
            "e": email,
            "n": name,
            "t": kind,
            "z": zone,
            "c": f"{consent_id or 0:020d}",
            "b": int(bot),
            "o": origin or secrets.token_hex(8),
            # The language the signup was made in: its check-inbox page speaks it.
            "l": language or current_language(),
            # The site they chose (a key), kept when the address is corrected.
            "s": location,
        }
    )


def _origin(payload: dict[str, Any]) -> str:
    """The id the ticket's daily cap is counted under."""
    value = payload.get("o")
    if isinstance(value, str) and len(value) == 16:
        return value
    # A ticket sealed before tickets carried one: its address and consent stand for it.
    return hashlib.sha256(f"{payload.get('e')}:{payload.get('c')}".encode()).hexdigest()[:16]


def _consent_in(payload: dict[str, Any]) -> int | None:
    value = payload.get("c")
    return int(value) or None if isinstance(value, str) and value.isdigit() else None


def to_check_inbox(sealed: str, notice: str | None = None) -> RedirectResponse:
    """Answer a form post by sending the browser to its check-inbox page (post/redirect/get)."""
    url = f"{CHECK_INBOX}?t={sealed}" + (f"&n={notice}" if notice else "")
    return RedirectResponse(url, status_code=303)


def _expired(request: Request) -> HTMLResponse:
    return link_problem_page(
        request,
        title=N_("This page has expired"),
        message=N_(
            "For your privacy this page only works for an hour after you sign up. If the "
            "email has not arrived, sign up again on our page; we will never send it twice in a "
            "few minutes."
        ),
        ways=(("/", N_("Sign up again to get the email")),),
    )


def _check_inbox(
    request: Request,
    sealed: str,
    payload: dict[str, Any],
    *,
    notice: str | None = None,
    status: int = 200,
    correction: str = "",
    error: str | None = None,
) -> HTMLResponse:
    response = render_page(
        request,
        "check_inbox.html",
        status,
        title=_("Check your inbox"),
        email=payload.get("e", ""),
        ticket=sealed,
        notice=notice,
        correction=correction,
        error=error,
        hours=get_settings().confirm_link_max_age_hours,
    )
    response.headers["Cache-Control"] = "no-store"  # it shows the address
    return response


@router.get(CHECK_INBOX, response_class=HTMLResponse)
def check_inbox(request: Request, t: str = "", n: str = "") -> HTMLResponse:
    """Show where the confirmation link went, with ways to resend it or fix the address."""
    try:
        payload = ticket.unseal(t)
    except ticket.InvalidTicket:
        return _expired(request)
    _ticket_language(payload)
    notice = NOTICES.get(n)
    return _check_inbox(request, t, payload, notice=_(notice) if notice else None)


async def _ticket_form(request: Request) -> tuple[str, dict[str, Any] | None, Any]:
    form = await request.form()
    sealed = str(form.get("t", ""))[:2000]
    try:
        payload = ticket.unseal(sealed)
    except ticket.InvalidTicket:
        return sealed, None, form
    _ticket_language(payload)
    return sealed, payload, form


def _ticket_language(payload: dict[str, Any]) -> None:
    """Answer in the language the signup was made in (a ticket names one signup)."""
    language = payload.get("l")
    if isinstance(language, str):
        for_lead(language)


def _wait(request: Request, sealed: str, payload: dict[str, Any], retry: int) -> HTMLResponse:
    response = _check_inbox(
        request,
        sealed,
        payload,
        notice=_(
            "You have asked for several emails just now. Please wait %(seconds)s seconds and "
            "try again."
        )
        % {"seconds": retry},
        status=429,
    )
    response.headers["Retry-After"] = str(retry)
    return response


@router.post("/subscribe/resend", response_class=HTMLResponse)
async def resend(request: Request, session: SessionDep, background: BackgroundTasks) -> Response:
    """Send the confirmation link again; the answer is the same whether or not it was sent."""
    sealed, payload, _ = await _ticket_form(request)
    if payload is None:
        return _expired(request)
    email = str(payload.get("e", ""))
    retry = throttle.allow_signup(ip=client_ip(request), email=email, ticket=_origin(payload))
    if retry is not None:
        return _wait(request, sealed, payload, retry)
    if not payload.get("b"):
        service.resend_confirmation(session, email=email, now=clock.now())
        session.commit()
        background.add_task(nudge)
    return to_check_inbox(sealed, "resent")


@router.post("/subscribe/correct", response_class=HTMLResponse)
async def correct(request: Request, session: SessionDep, background: BackgroundTasks) -> Response:
    """Sign up again with a corrected address and cancel the unconfirmed mistyped one."""
    sealed, payload, form = await _ticket_form(request)
    if payload is None:
        return _expired(request)
    typed = str(form.get("email", ""))[:300]
    try:
        data = SubscribeRequest.model_validate(
            {
                "email": typed,
                "first_name": payload.get("n"),
                "numbness_type": payload.get("t"),
                "timezone": payload.get("z"),
                "consent": True,  # given on the signup form this ticket was made for
                "language": payload.get("l"),
                "location": payload.get("s"),
            }
        )
    except ValidationError as exc:
        # Only the address came from this form; the rest was checked when the ticket was made.
        message = next(iter(plain_errors(exc.errors()).values()))
        shown = without_unusual(typed)  # never echo control characters
        return _check_inbox(request, sealed, payload, status=422, correction=shown, error=message)
    if data.email == payload.get("e"):
        return to_check_inbox(sealed)
    retry = throttle.allow_signup(ip=client_ip(request), email=data.email, ticket=_origin(payload))
    if retry is not None:
        return _wait(request, sealed, payload, retry)
    consent_id = None
    if not payload.get("b"):
        consent = service.subscribe(
            session, request=data, meta=signup_meta(request, CHECK_INBOX), now=clock.now()
        )
        consent_id = consent.id if consent is not None else None
        old = _consent_in(payload)
        if old is not None:
            service.withdraw_signup(session, consent_id=old)
        session.commit()
        background.add_task(nudge)
    corrected = seal_signup(
        data, consent_id=consent_id, bot=bool(payload.get("b")), origin=_origin(payload)
    )
    return to_check_inbox(corrected, "corrected")


# Why no confirmation link can go to a suppressed address, told to the address's own owner
# (the page is reached through a link signed for that lead, so nothing is told to a stranger).
_UNDELIVERABLE = N_("We could not deliver our emails to your address")
_CANNOT_SEND = {
    "bounce": _UNDELIVERABLE,
    "invalid": _UNDELIVERABLE,
    "complaint": N_(
        "Your email provider told us that you marked one of our emails as spam, and "
        "we stopped all email to your address"
    ),
}


def _suppressed_page(request: Request, reason: str) -> HTMLResponse:
    why = _(_CANNOT_SEND.get(reason, N_("Email to your address is switched off")))
    phone = clinic.effective().clinic_phone
    return message_page(
        request,
        title=_("We can't send you a link to confirm"),
        message=_(
            "%(why)s, so we cannot send you a link to confirm and nothing was changed. "
            "If you would like our emails again, please contact the clinic on %(phone)s."
        )
        % {"why": why, "phone": phone},
        status_code=409,
    )


async def come_back(
    request: Request, session: SessionDep, *, purpose: str, token: str, page: str
) -> Response:
    """Ask an unsubscribed lead to confirm again; `page` is where the form was (its path)."""
    try:
        lead = service.lead_from_token(session, purpose, token)
    except InvalidToken as exc:
        return link_problem_page(request, message=str(exc))
    for_lead(lead.language)
    form = await request.form()
    if form.get("consent") != "true":
        return unsubscribed_page(
            request,
            resubscribe_action=f"{page}/resubscribe",
            status=422,
            error=_("Please tick the box to agree to receive our emails"),
        )
    reason = reason_for(session, email=lead.email)
    if reason is not None:  # checked first: "your emails are on" would not be true either
        return _suppressed_page(request, reason)
    if lead.status == LeadStatus.ACTIVE:
        return message_page(
            request,
            title=_("You're already subscribed"),
            message=_("Your address is confirmed and your emails are on. Nothing needed changing."),
        )
    retry = throttle.allow_signup(ip=client_ip(request), email=lead.email)
    if retry is not None:
        return message_page(
            request,
            title=_("Please wait a moment"),
            message=_("Too many requests just now. Please try again in %(seconds)s seconds.")
            % {"seconds": retry},
            status_code=429,
        )
    now = clock.now()
    meta = signup_meta(request, f"{purpose} page: resubscribe")  # no token in the record
    if not service.resubscribe(session, lead=lead, meta=meta, now=now):
        service.resend_confirmation(session, email=lead.email, now=now)
    session.commit()
    nudge()
    return to_check_inbox(_lead_ticket(lead), "again")


def _lead_ticket(lead: Lead) -> str:
    # Nothing to cancel: the lead came back from its own email, not from a fresh signup.
    return _seal(
        lead.email,
        lead.first_name,
        lead.numbness_type,
        lead.timezone,
        None,
        False,
        language=lead.language,
    )


def unsubscribed_page(
    request: Request, *, resubscribe_action: str, status: int = 200, error: str | None = None
) -> HTMLResponse:
    """Confirm the unsubscribe and offer the way back (a new confirmation email)."""
    return render_page(
        request,
        "unsubscribe.html",
        status,
        title=_("You're unsubscribed"),
        message=_("You will not get any more marketing emails from us."),
        show_button=False,
        resubscribe_action=resubscribe_action,
        consent_text=_(service.CONSENT_TEXT),
        error=error,
    )


@router.post("/unsubscribe/{token}/resubscribe", response_class=HTMLResponse)
async def resubscribe_after_unsubscribe(
    token: str, request: Request, session: SessionDep
) -> Response:
    """Come back from the unsubscribed page."""
    return await come_back(
        request, session, purpose="unsubscribe", token=token, page=f"/unsubscribe/{token}"
    )


@router.post("/preferences/{token}/resubscribe", response_class=HTMLResponse)
async def resubscribe_from_preferences(
    token: str, request: Request, session: SessionDep
) -> Response:
    """Come back from the preferences page of an unsubscribed lead."""
    return await come_back(
        request, session, purpose="preferences", token=token, page=f"/preferences/{token}"
    )
