"""What every studio page shares: the signed-in staff member, roles, CSRF, page rendering."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from nurture.clinic import service as clinic
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.http.deps import SessionDep
from nurture.locations import service as locations
from nurture.staff import audit
from nurture.staff.models import StaffUser
from nurture.studio.auth import Role, session_staff
from nurture.studio.layout import templates

PREFIX = "/studio"
SESSION_COOKIE = "nurture_studio"
CSRF_FIELD = "csrftoken"
SESSION_ID = "sid"


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
        all_sites=locations.sites(),
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


class FormTooLarge(Exception):
    """A studio form with more fields than its page reads (ticked rows, usually)."""

    def __init__(self, most: int) -> None:
        super().__init__(most)
        self.most = most


# Starlette's own default; forms that carry one field per ticked row raise it for their path.
DEFAULT_FORM_FIELDS = 1000
_FORM_FIELDS: dict[str, int] = {}


def allow_form_fields(path: str, most: int) -> None:
    """Let the form posted to `path` (under PREFIX) carry up to `most` fields."""
    _FORM_FIELDS[PREFIX + path] = most


async def read_form(request: Request) -> FormData:
    """Parse the posted form once, with the field limit of its page; FormTooLarge past it."""
    most = _FORM_FIELDS.get(request.url.path, DEFAULT_FORM_FIELDS)
    try:
        return await request.form(max_fields=most, max_files=most)
    except StarletteHTTPException as exc:
        if exc.status_code == 400 and "Too many" in str(exc.detail):
            raise FormTooLarge(most) from exc
        raise


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
            sent = (await read_form(request)).get(CSRF_FIELD)
    if not (isinstance(expected, str) and isinstance(sent, str)) or not hmac.compare_digest(
        sent, expected
    ):
        raise CsrfFailed


class SignInBeforeBody:
    """Answer an unsafe studio request from no one signed in before its body is read.

    The body of such a request (a 30 MiB upload, say) would only be thrown away; refusing
    it from the signed session cookie alone means a stranger's upload costs no memory and
    no disk. Signed-in requests go on to the CSRF check and the streamed form parser.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and path.startswith(PREFIX + "/")
            and path != f"{PREFIX}/login"
            and SESSION_ID not in scope.get("session", {})
        ):
            response = sign_in_needed(Request(scope))
            response.headers["Connection"] = "close"  # the unread body is not worth reading
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def sign_in_needed(request: Request) -> Response:
    """The page that asks for signing in first; nothing was changed."""
    return page(
        request,
        "message.html",
        None,
        status_code=401,
        title="Sign in needed",
        message="Sign in to the studio first. Nothing was changed.",
        back=f"{PREFIX}/login",
    )


def studio_router() -> APIRouter:
    """A router whose every route checks the CSRF token first."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
