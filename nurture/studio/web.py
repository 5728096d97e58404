"""What every studio page shares: the signed-in staff member, roles, CSRF, page rendering."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware
from starlette.templating import Jinja2Templates

from nurture import clock
from nurture.clinic import service as clinic
from nurture.config import PACKAGE_DIR, get_settings
from nurture.sequences.simulate import moment_of
from nurture.studio import audit
from nurture.studio.auth import Role, session_staff
from nurture.studio.models import StaffUser
from nurture.web import SessionDep

PREFIX = "/studio"
SESSION_COOKIE = "nurture_studio"
CSRF_FIELD = "csrftoken"
SESSION_ID = "sid"

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "studio" / "templates"))


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Show a stored UTC time in the clinic's zone (the studio's working time), named."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(get_settings().clinic_timezone)).strftime(fmt)


templates.env.filters["local"] = _local
templates.env.filters["tz"] = ZoneInfo
# What a sequence's start date means, for the simulator and anything else naming triggers.
templates.env.globals["moment_of"] = moment_of


class SignInRequired(Exception):
    """The request has no valid studio session."""


class AdminOnly(Exception):
    """The signed-in staff member is an editor, and the page is for admins."""


def current_staff(request: Request, session: SessionDep) -> StaffUser:
    """Return the signed-in staff member, or refuse the request."""
    # The cookie only names a session; the server's record of it decides (sign-out deletes it).
    token = request.session.get(SESSION_ID)
    staff = session_staff(session, token=token, now=clock.now()) if isinstance(token, str) else None
    if staff is None:
        request.session.clear()
        raise SignInRequired
    return staff


def admin_staff(staff: Annotated[StaffUser, Depends(current_staff)]) -> StaffUser:
    """Return the signed-in staff member if they are an admin."""
    if staff.role != Role.ADMIN:
        raise AdminOnly
    return staff


StaffDep = Annotated[StaffUser, Depends(current_staff)]
AdminDep = Annotated[StaffUser, Depends(admin_staff)]


def page(
    request: Request,
    template: str,
    staff: StaffUser | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a studio page with the navigation, the CSRF token and any flash message."""
    s = get_settings()
    flash = request.session.pop("flash", None)  # left by the redirect that led here
    context.setdefault("flash", flash)
    # A URL to post to that takes back the change the flash reports (a removed step).
    context.setdefault("undo", request.session.pop("undo", None) if flash else None)
    context.update(
        staff=staff,
        clinic_name=clinic.effective().clinic_name,
        csrftoken=csrf_token(request),
        is_admin=staff is not None and staff.role == Role.ADMIN,
        clinic_timezone=s.clinic_timezone,
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def download(content: str, *, filename: str, media_type: str) -> Response:
    """Answer with a file to save (CSV, YAML or JSON exports)."""
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def committed(
    request: Request,
    session: Session,
    staff: StaffUser,
    *,
    url: str,
    flash: str,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> RedirectResponse:
    """Audit a change, commit it with its audit entry, and redirect with a message."""
    audit.record(session, staff=staff, action=action, target=target, before=before, after=after)
    session.commit()
    return redirect(request, url, flash)


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    """Answer a form post with a redirect (post/redirect/get) and a message for the next page."""
    if flash:
        request.session["flash"] = flash
    return RedirectResponse(url, status_code=303)


class CsrfFailed(Exception):
    """A state-changing request without this session's CSRF token."""


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    """This session's CSRF token (synchronizer pattern), made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Refuse any unsafe request that does not carry the session's token.

    Forms send it as a hidden field, scripts as the X-CSRFToken header. The token lives in
    the signed session cookie, so a page on another site can neither read nor forge it.
    """
    if request.method in SAFE_METHODS:
        return
    if SESSION_ID not in request.session and request.url.path != f"{PREFIX}/login":
        raise SignInRequired
    expected = request.session.get("csrf")
    sent: object = request.headers.get("x-csrftoken")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get(CSRF_FIELD)
    if not (isinstance(expected, str) and isinstance(sent, str)) or not hmac.compare_digest(
        sent, expected
    ):
        raise CsrfFailed


def studio_router() -> APIRouter:
    """A router whose every route checks the CSRF token first."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])


_EXPIRED = (
    "The form was missing its security token, or it came from another site. Nothing was "
    "changed. Go back, reload the page and try again."
)


def routers() -> list[APIRouter]:
    """The studio's routers, each mounted under PREFIX."""
    from nurture.studio import (
        admin,
        broadcast_pages,
        broadcasts,
        clinic_settings,
        draft_editor,
        jobs,
        lead_next,
        live_preview,
        people,
        people_list,
        publish,
        results,
        sequence_pages,
        signin,
        simulator,
        step_editor,
        variant_editor,
        versions,
        visits,
    )
    from nurture.studio import outbox as outbox_views

    modules = (
        signin,
        sequence_pages,
        live_preview,
        draft_editor,
        step_editor,
        variant_editor,
        publish,
        simulator,
        versions,
        people_list,
        people,
        lead_next,
        broadcasts,
        broadcast_pages,
        jobs,
        visits,
        outbox_views,
        results,
        admin,
        clinic_settings,
    )
    return [m.router for m in modules]


def install(app: FastAPI) -> None:
    """Mount the studio's routes, its session and CSRF middleware and its error pages."""
    s = get_settings()
    secure = s.resolved_base_url.startswith("https://")
    for router in routers():
        app.include_router(router, prefix=PREFIX)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)
        return page(
            request,
            "message.html",
            None,
            status_code=401,
            title="Sign in needed",
            message="Sign in to the studio first. Nothing was changed.",
            back=f"{PREFIX}/login",
        )

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, _: CsrfFailed) -> Response:
        return page(
            request,
            "message.html",
            None,
            status_code=403,
            title="This form has expired",
            message=_EXPIRED,
            back=PREFIX,
        )

    @app.exception_handler(AdminOnly)
    async def _admin_only(request: Request, _: AdminOnly) -> Response:
        return page(
            request,
            "message.html",
            None,
            status_code=403,
            title="Admins only",
            message="This page is for admins. Ask an admin if you need something here.",
        )

    app.add_middleware(
        SessionMiddleware,
        secret_key=s.resolved_secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=s.studio_session_hours * 3600,
        path=PREFIX,
        same_site="lax",
        https_only=secure,
    )
