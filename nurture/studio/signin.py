"""Signing in and out of the studio, and its home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.http.deps import SessionDep
from nurture.leads import throttle
from nurture.staff import audit
from nurture.studio.auth import end_session, sign_in, start_session
from nurture.studio.web import PREFIX, SESSION_ID, StaffDep, page, redirect, studio_router

router = studio_router()


def _safe_next(target: str | None) -> str:
    # Only a path inside the studio: never another site (an open redirect).
    if target and target.startswith(PREFIX) and not target.startswith("//"):
        return target
    return f"{PREFIX}/sequences"


@router.get("", response_class=HTMLResponse)
def home(_: StaffDep) -> Response:
    """The studio starts at the sequence list."""
    return RedirectResponse(f"{PREFIX}/sequences", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """Show the sign-in form."""
    return page(request, "login.html", None, title="Sign in", next=_safe_next(next), email="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the password; on success start a fresh session."""
    if not email.strip() or not password:
        return page(
            request,
            "login.html",
            None,
            status_code=422,
            title="Sign in",
            next=_safe_next(next),
            email=email,
            error="Enter your email address and your password.",
        )
    # Per client, on top of the per-account lockout: one address guessing at many accounts.
    client = request.client.host if request.client else "unknown"
    wait = throttle.allow(get_settings().studio_signin_rate_per_ip, f"studio-signin-ip:{client}")
    if wait is not None:
        response = page(
            request,
            "login.html",
            None,
            status_code=429,
            title="Sign in",
            next=_safe_next(next),
            email=email,
            error=f"Too many sign-in attempts from your network. Try again in "
            f"{max(1, round(wait / 60))} minute(s).",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    now = clock.now()
    result = sign_in(session, email=email, password=password, now=now)
    if result.staff is None:
        session.commit()  # the failure count and any lockout must stick
        return page(
            request,
            "login.html",
            None,
            status_code=401,
            title="Sign in",
            next=_safe_next(next),
            email=email,
            error=result.message,
        )
    staff = result.staff
    audit.record(session, staff=staff, action="staff.sign_in", target=staff.email, at=now)
    token = start_session(session, staff=staff, now=now)
    session.commit()
    request.session.clear()
    request.session[SESSION_ID] = token
    return redirect(request, _safe_next(next))


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End this session on the server too, so a copy of the cookie no longer works."""
    token = request.session.get(SESSION_ID)
    if isinstance(token, str):
        end_session(session, token=token)
        session.commit()
    request.session.clear()
    return RedirectResponse(f"{PREFIX}/login", status_code=303)
