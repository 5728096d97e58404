"""Server-rendered HTML pages shared by the domains' views (autoescaped Jinja)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from starlette.templating import Jinja2Templates

from nurture.clinic import service as clinic
from nurture.core import translations
from nurture.core.config import PACKAGE_DIR
from nurture.core.languages import default as default_language
from nurture.core.translations import N_, gettext
from nurture.http.language import is_lead_page, switch_links
from nurture.rendering.dates import format_for_language

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "pages"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)
# Whitespace inside {% trans %} is folded, so the catalog's entries read as plain sentences.
templates.env.policies["ext.i18n.trimmed"] = True


def _language(context: Context) -> str:
    return str(context.get("language") or translations.current_language())


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations.gettext_in(_language(context), message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations.catalog(_language(context)).ngettext(singular, plural, n)


@pass_context
def _visit_time(context: Context, moment: datetime, tz: str) -> str:
    return format_for_language(moment, tz, _language(context))


templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    _gettext, _ngettext, newstyle=True
)
templates.env.filters["visit_time"] = _visit_time


def _page_context(request: Request | None, context: dict[str, Any]) -> dict[str, Any]:
    language = context.setdefault("language", translations.current_language())
    # Links to the site's own pages keep a language other than the default (privacy, home).
    context.setdefault("lang_query", "" if language == default_language() else f"?lang={language}")
    context.setdefault("clinic", clinic_identity())
    context.setdefault("clinic_name", context["clinic"]["name"])
    if request is not None and "switch" not in context and not is_lead_page():
        context["switch"] = switch_links(request.url.path, request.url.query, language)
    return context


def render_page(
    request: Request, template_name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page template in the page's language, with the clinic's identity available."""
    context = _page_context(request, context)
    response: HTMLResponse = templates.TemplateResponse(
        request, template_name, context, status_code=status_code
    )
    return response


def render_text(template_name: str, request: Request | None = None, **context: Any) -> str:
    """Render a page template to a string, for answers made outside any route (errors)."""
    return str(templates.get_template(template_name).render(_page_context(request, context)))


def clinic_identity() -> dict[str, str]:
    """Return the clinic's name, logo, address, phone and colour as public pages show them."""
    c = clinic.effective()
    return {
        "name": c.clinic_name,
        "logo_url": c.clinic_logo_url,
        "address": c.clinic_address,
        "phone": c.clinic_phone,
        "phone_link": c.phone_link,
        "opening_hours": c.opening_hours,
        "review_url": c.review_url,
        "accent_color": c.accent_color,
    }


def message_page(
    request: Request, *, title: str, message: str, status_code: int = 200
) -> HTMLResponse:
    """Render a simple page with a heading and one paragraph (each in the page's language)."""
    return render_page(
        request, "message.html", status_code, title=gettext(title), message=gettext(message)
    )


# Where someone whose link failed can go next: a fresh link comes from signing up again (the
# same address gets a new confirmation email), and the page also offers the clinic's phone.
SIGN_UP_AGAIN = ("/", N_("Sign up again for a fresh link"))


def link_problem_page(
    request: Request,
    *,
    message: str,
    title: str = N_("This link does not work"),
    status_code: int = 400,
    ways: tuple[tuple[str, str], ...] = (SIGN_UP_AGAIN,),
) -> HTMLResponse:
    """Render a page for a link that is expired or not valid, with the ways forward.

    Marked (N_) or already translated words are shown in the page's language.
    """
    return render_page(
        request,
        "message.html",
        status_code,
        title=gettext(title),
        message=gettext(message),
        ways=tuple((href, gettext(words)) for href, words in ways),
    )
