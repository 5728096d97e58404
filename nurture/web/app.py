"""The ASGI app factory: mounts each domain's routes and the shared error handling."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nurture import __version__
from nurture.core.config import PACKAGE_DIR, get_settings
from nurture.http.language import PageLanguage


def _size(limit: int) -> str:
    """Say a byte count as people do: 32 MiB, 1 MiB, 16 KiB."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit >= scale:
            return f"{limit / scale:.3g} {unit}"
    return f"{limit} bytes"


class _BodyTooLarge(Exception):
    """Raised into the app when the body it is reading passes the limit."""


class BodySizeLimit:
    """Refuse request bodies over `limit` bytes with 413, counting them as the app reads them.

    Nothing is buffered here: a declared length over the limit is refused before any byte is
    read, and a body that grows past it stops the app's reading (whatever the app answers
    then is replaced by the 413). Views and the form parser read at their own pace, so an
    upload streams to a temporary file and a request refused before its body is read (such
    as a studio post from no one signed in) costs no memory at all.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        # Path prefixes allowed more (the studio's editor and file uploads), longest first.
        self.larger = sorted((larger or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        """The largest body accepted at `path`."""
        return next((n for prefix, n in self.larger if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send, limit, scope)
            return
        total = 0
        over = started = False

        async def counted() -> Message:
            nonlocal total, over
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's answer to a body it could not finish; the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._too_large(send, limit, scope)

    async def _too_large(self, send: Send, limit: int, scope: Scope) -> None:
        from nurture.web.error_pages import error_html, wants_html

        accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
        content_type = b"application/json"
        payload = json.dumps(
            {
                "error": "payload_too_large",
                "message": f"The request body is larger than {limit} bytes.",
            }
        ).encode()
        if wants_html(scope["path"], accept):
            content_type = b"text/html; charset=utf-8"
            payload = error_html(
                scope["path"], 413, details=[f"The most this page accepts is {_size(limit)}."]
            ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class HeadAsGet:
    """Answer HEAD like GET without the body, as HTTP requires of every GET resource.

    FastAPI routes list only the methods they declare, so without this a monitor's or link
    checker's HEAD on any page got 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def create_app() -> FastAPI:
    """Build the web application."""
    import nurture.celery_app  # noqa: F401 - registers the broker as the dispatch hook
    from nurture.appointments.views import router as appointments_router
    from nurture.delivery.twilio_webhooks import router as twilio_router
    from nurture.delivery.views import router as delivery_router
    from nurture.delivery.webhooks import router as webhooks_router
    from nurture.leads.views import router as leads_router
    from nurture.models import load_models
    from nurture.studio import mount as studio
    from nurture.web import apidocs, error_pages, security_headers, site
    from nurture.web.health import router as health_router
    from nurture.web.metrics import router as metrics_router

    load_models()
    settings = get_settings()
    app = FastAPI(
        title="Nurture",
        version=__version__,
        description="Signup, consent and delivery API of a clinic's email nurture service.",
        docs_url=None,  # apidocs serves /docs from installed files, under the CSP
        redoc_url=None,
    )

    app.include_router(leads_router)
    app.include_router(site.router)
    app.include_router(appointments_router)
    app.include_router(delivery_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(webhooks_router)
    app.include_router(twilio_router)
    studio.install(app)
    apidocs.install(app)
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    if settings.cors_origins:
        # Only the clinic's own sites may post signups from a browser.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_request_bytes,
        larger={
            "/studio/": max(settings.max_request_bytes, 1024 * 1024),
            "/studio/leads/import": settings.max_upload_bytes,
            # Provider batches and bookings are large; losing them loses bounces and visits.
            "/webhooks/": max(settings.max_request_bytes, settings.webhook_max_request_bytes),
        },
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(PageLanguage)
    security_headers.install(app, base_url=settings.resolved_base_url)  # last added, so outermost
    error_pages.install(app)  # after security_headers: its crash page supersedes the plain one
    return app
