"""Security headers on every response: what a browser may load, frame, sniff and refer."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts come only from this origin's files: no inline script, no eval, so markup that slips
# into a page cannot run. Inline styles stay allowed: an email is all inline styles, and the
# studio shows emails in srcdoc iframes, which take the policy of the page that holds them.
# Email images may live on the clinic's https site; nothing else leaves the origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=63072000"


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers every response carries; HSTS only when the service is served over https."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # Confirmation, preference and unsubscribe URLs carry tokens: never pass them on.
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """Add the security headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, *, base_url: str) -> None:
    """Wrap the app so every response, error pages included, carries the security headers."""
    https = base_url.startswith("https://")
    app.add_middleware(SecurityHeaders, https=https)

    # Starlette answers an unhandled exception outside every added middleware, so its page
    # gets the headers here; the exception still reaches the server's log.
    @app.exception_handler(Exception)
    async def _server_error(_: Request, __: Exception) -> Response:
        return PlainTextResponse(
            "Internal Server Error", status_code=500, headers=security_headers(https=https)
        )
