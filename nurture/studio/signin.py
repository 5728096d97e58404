"""Signing in and out of the studio, and its home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nurture import clock
from nurture.studio import audit
from nurture.studio.auth import sign_in
from nurture.studio.web import PREFIX, StaffDep, page, redirect, studio_router
from nurture.web import SessionDep

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
    session.commit()
    request.session.clear()
    request.session.update({"staff": staff.id, "epoch": staff.session_epoch})
    return redirect(request, _safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    """End this session."""
    request.session.clear()
    return RedirectResponse(f"{PREFIX}/login", status_code=303)
