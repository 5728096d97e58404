"""Which language a public page is in, before any lead is known.

`?lang=` (the visible switch) wins, then the browser's Accept-Language, then the clinic's
default. A page reached through a link that names a lead answers in the lead's language
instead (the view calls `translations.set_language(lead.language)`), and shows no switch.
"""

from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import parse_qs, urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nurture.core import languages, translations

# Set when the page belongs to a lead: its language is the lead's, and no switch is shown.
_lead_page: ContextVar[bool] = ContextVar("nurture_lead_page", default=False)

# Pages whose words never follow the browser: the studio speaks to staff, the API to programs.
_NOT_PATIENT_PAGES = ("/studio", "/api/", "/webhooks/", "/static/", "/metrics", "/healthz")


def _from_query(query: str) -> str | None:
    values = parse_qs(query[:2000]).get("lang")
    if not values:
        return None
    try:
        return languages.nearest(values[0][:35])
    except ValueError:
        return None


def language_of(path: str, query: str, accept_language: str | None) -> str:
    """Return the language for a page: `?lang=`, else Accept-Language, else the default."""
    return (
        _from_query(query) or languages.from_accept_language(accept_language) or languages.default()
    )


def request_language(request: Request) -> str:
    """Return the language a request asks for (see `language_of`)."""
    return language_of(request.url.path, request.url.query, request.headers.get("accept-language"))


def switch_links(path: str, query: str, current: str) -> list[dict[str, str | bool]]:
    """Return one link per offered language to this page in it (no script needed)."""
    params = {k: v for k, v in parse_qs(query[:2000]).items() if k != "lang"}
    links: list[dict[str, str | bool]] = []
    for language in languages.offered():
        href = f"{path}?{urlencode({**params, 'lang': language}, doseq=True)}"
        links.append(
            {
                "language": language,
                "name": languages.name_of(language),
                "href": href,
                "current": language == current,
            }
        )
    return links


def for_lead(language: str | None) -> str:
    """Answer this request in a lead's language (matched to an offered one), with no switch."""
    _lead_page.set(True)
    return translations.set_language(language)


def is_lead_page() -> bool:
    """Tell whether this request's page belongs to a lead (see `for_lead`)."""
    return _lead_page.get()


class PageLanguage:
    """Set the request's language for the view, and say that pages vary by Accept-Language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(_NOT_PATIENT_PAGES):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        header = None
        for name, value in scope.get("headers", []):
            if name == b"accept-language":
                header = value.decode("latin-1")
        token = translations.begin(language_of(path, query, header))
        locked = _lead_page.set(False)

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.add_vary_header("Accept-Language")
            await send(message)

        try:
            await self.app(scope, receive, send_varying)
        finally:
            _lead_page.reset(locked)
            translations.end(token)
