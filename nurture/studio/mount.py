"""Where the studio joins the app: every page module's router under /studio, the session and
CSRF middleware, and the studio's own answers to sign-in, CSRF and admin-only errors.

Page modules import web.py (the studio's request helpers); only this module imports the page
modules, so neither reaches back to the other.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from nurture.core.config import get_settings
from nurture.studio.web import (
    PREFIX,
    SESSION_COOKIE,
    AdminOnly,
    CsrfFailed,
    FormTooLarge,
    SignInBeforeBody,
    SignInRequired,
    page,
    sign_in_needed,
)

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
        location_pages,
        people,
        people_list,
        publish,
        results,
        sequence_pages,
        signin,
        simulator,
        step_editor,
        text_answers,
        texts,
        translation_editor,
        variant_editor,
        versions,
        visit_texts,
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
        translation_editor,
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
        visit_texts,
        texts,
        text_answers,
        outbox_views,
        results,
        admin,
        clinic_settings,
        location_pages,
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
        return sign_in_needed(request)

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

    @app.exception_handler(FormTooLarge)
    async def _form_too_large(request: Request, exc: FormTooLarge) -> Response:
        return page(
            request,
            "message.html",
            None,
            status_code=413,
            title="Too much at once",
            message=f"The form held more than {exc.most:,} entries, so nothing was changed. "
            "Tick fewer people, or choose all matching a narrower filter, and try again.",
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

    app.add_middleware(SignInBeforeBody)  # inside the session middleware, which reads the cookie
    app.add_middleware(
        SessionMiddleware,
        secret_key=s.resolved_secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=s.studio_session_hours * 3600,
        path=PREFIX,
        same_site="lax",
        https_only=secure,
    )
