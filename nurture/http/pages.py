"""Server-rendered HTML pages shared by the domains' views (autoescaped Jinja)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from nurture.clinic import service as clinic
from nurture.core.config import PACKAGE_DIR
from nurture.rendering.dates import format_visit_time

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "pages"))
templates.env.filters["visit_time"] = format_visit_time


def render_page(
    request: Request, template_name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page template with the clinic's identity available."""
    context.setdefault("clinic", clinic_identity())
    context.setdefault("clinic_name", context["clinic"]["name"])
    return templates.TemplateResponse(request, template_name, context, status_code=status_code)


def render_text(template_name: str, **context: Any) -> str:
    """Render a page template to a string, for answers made outside any route (errors)."""
    context.setdefault("clinic", clinic_identity())
    context.setdefault("clinic_name", context["clinic"]["name"])
    return templates.get_template(template_name).render(context)


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
    """Render a simple page with a heading and one paragraph."""
    return render_page(request, "message.html", status_code, title=title, message=message)


# Where someone whose link failed can go next: a fresh link comes from signing up again (the
# same address gets a new confirmation email), and the page also offers the clinic's phone.
SIGN_UP_AGAIN = ("/", "Sign up again for a fresh link")


def link_problem_page(
    request: Request,
    *,
    message: str,
    title: str = "This link does not work",
    status_code: int = 400,
    ways: tuple[tuple[str, str], ...] = (SIGN_UP_AGAIN,),
) -> HTMLResponse:
    """Render a page for a link that is expired or not valid, with the ways forward."""
    return render_page(
        request, "message.html", status_code, title=title, message=message, ways=ways
    )
