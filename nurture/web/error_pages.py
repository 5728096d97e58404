"""Errors answered as HTML pages for browsers and as JSON for everything else.

A browser (its Accept names text/html) outside /api/ gets a page in the site's layout, or the
studio's under /studio; API clients, webhooks and scripts keep the JSON bodies the API
documents.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from nurture.core.config import get_settings
from nurture.core.translations import N_
from nurture.http.errors import field_errors, validation_response
from nurture.http.language import request_language

STUDIO_PREFIX = "/studio"

# What a person can do about each error, in words rather than codes.
# Marked for translation: the site's error page shows them in the visitor's language.
WORDS: dict[int, tuple[str, str]] = {
    400: (N_("Something in that request was wrong"), N_("Go back, reload the page and try again.")),
    404: (
        N_("We couldn't find that page"),
        N_("The link may be mistyped or out of date. Nothing is wrong on your side."),
    ),
    405: (
        N_("This page can't do that"),
        N_(
            "That kind of request isn't accepted here. Go back and use the page's own buttons "
            "and links."
        ),
    ),
    409: (
        N_("That can't be done as things stand"),
        N_("Something changed since the page was loaded. Reload it and try again."),
    ),
    413: (
        N_("That was too much to send"),
        N_("What you sent is larger than we accept. Please send something smaller."),
    ),
    422: (
        N_("Some details need another look"),
        N_("Go back, correct the details below and try again."),
    ),
    429: (
        N_("Please wait a moment"),
        N_("Too many requests just now. Please try again in a minute."),
    ),
    503: (
        N_("We're busy for a moment"),
        N_("Nothing you did caused this. Please try again in a few seconds."),
    ),
    500: (
        N_("Something went wrong on our side"),
        N_(
            "Nothing you did caused this, and nothing was half-saved. Please try again in a minute."
        ),
    ),
}


# The API's documented error shape (ErrorOut) for a crash; the traceback goes to the log only.
INTERNAL_ERROR = {
    "error": "internal_error",
    "message": "Something went wrong on our side; nothing was half-saved. Try again in a minute.",
}


def wants_html(path: str, accept: str) -> bool:
    """Tell whether an error at `path` should be a page: a browser asked, and not the API."""
    return "text/html" in accept.lower() and not path.startswith("/api/")


def error_html(
    path: str, status: int, *, details: list[str] | None = None, request: Request | None = None
) -> str:
    """The page for `status` at `path`, in the studio's layout under /studio, else the site's.

    The site's page is in the language `request` asks for (see nurture.http.language).
    """
    title, message = WORDS.get(status) or (_phrase(status), "Go back and try again.")
    if path == STUDIO_PREFIX or path.startswith(STUDIO_PREFIX + "/"):
        from nurture.studio.layout import templates

        text = "; ".join([message, *(details or [])])
        return templates.get_template("message.html").render(
            title=title, message=text, back=STUDIO_PREFIX, staff=None, flash=None
        )
    from nurture.http.pages import render_text

    language = request_language(request) if request is not None else None
    return render_text(
        "error.html",
        request,
        title=title,
        message=message,
        details=details or [],
        **({"language": language} if language else {}),
    )


# SQLite's writer lock outlasting busy_timeout; PostgreSQL serialization, deadlock, lock timeout.
_BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
BUSY_RETRY_SECONDS = 5


def database_busy(exc: BaseException) -> bool:
    """Tell whether `exc` is the database refusing a write for now, worth retrying soon."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc.orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Something went wrong"


def _studio_detail(path: str, exc: HTTPException) -> list[str]:
    """The studio's own reason for an error (staff wrote it for staff), when it gave one."""
    studio = path == STUDIO_PREFIX or path.startswith(STUDIO_PREFIX + "/")
    detail = exc.detail
    if not studio or not isinstance(detail, str) or detail == _phrase(exc.status_code):
        return []
    return [detail]


def _page(request: Request, status: int, details: list[str] | None = None) -> HTMLResponse:
    html = error_html(request.url.path, status, details=details, request=request)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    """Answer HTTP errors, invalid requests and crashes as pages for browsers."""
    from nurture.web.security_headers import security_headers

    https = get_settings().resolved_base_url.startswith("https://")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if not wants_html(request.url.path, request.headers.get("accept", "")):
            return await http_exception_handler(request, exc)
        response = _page(request, exc.status_code, _studio_detail(request.url.path, exc))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value  # e.g. Allow on a 405
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not wants_html(request.url.path, request.headers.get("accept", "")):
            return validation_response(exc.errors())
        fields = field_errors(exc.errors())
        return _page(request, 422, [f"{name}: {message}" for name, message in fields.items()])

    # Starlette answers an unhandled exception outside every added middleware, so this page
    # carries the security headers itself; the exception still reaches the server's log.
    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        headers = {**security_headers(https=https), "Cache-Control": "no-store"}
        if database_busy(exc):
            # A busy database is temporary: providers and people retry a 503, not a 500.
            headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
            if wants_html(request.url.path, request.headers.get("accept", "")):
                page = error_html(request.url.path, 503, request=request)
                return HTMLResponse(page, 503, headers=headers)
            return JSONResponse(
                {
                    "error": "busy",
                    "message": "The database is busy for a moment; retry in a few seconds.",
                },
                status_code=503,
                headers=headers,
            )
        if wants_html(request.url.path, request.headers.get("accept", "")):
            try:
                page = error_html(request.url.path, 500, request=request)
                return HTMLResponse(page, 500, headers=headers)
            except Exception:  # noqa: BLE001 - whatever broke may break the page too
                pass
        return JSONResponse(INTERNAL_ERROR, status_code=500, headers=headers)
