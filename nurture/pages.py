"""Server-rendered HTML pages shared by the domains' views (autoescaped Jinja)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from nurture.config import PACKAGE_DIR, get_settings
from nurture.rendering.dates import format_visit_time

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "pages"))
templates.env.filters["visit_time"] = format_visit_time


def render_page(
    request: Request, template_name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page template with the clinic's identity available."""
    context.setdefault("clinic_name", get_settings().clinic_name)
    context.setdefault("clinic", clinic_identity())
    return templates.TemplateResponse(request, template_name, context, status_code=status_code)


def render_text(template_name: str, **context: Any) -> str:
    """Render a page template to a string, for answers made outside any route (errors)."""
    context.setdefault("clinic_name", get_settings().clinic_name)
    context.setdefault("clinic", clinic_identity())
    return templates.get_template(template_name).render(context)


def clinic_identity() -> dict[str, str]:
    """The clinic's name, logo, address and phone as every public page shows them."""
    s = get_settings()
    dial = "".join(c for c in s.clinic_phone if c.isdigit() or c == "+")
    return {
        "name": s.clinic_name,
        "logo_url": s.clinic_logo_url,
        "address": s.clinic_address,
        "phone": s.clinic_phone,
        "phone_link": f"tel:{dial}",
    }


def message_page(
    request: Request, *, title: str, message: str, status_code: int = 200
) -> HTMLResponse:
    """Render a simple page with a heading and one paragraph."""
    return render_page(request, "message.html", status_code, title=title, message=message)
