"""Server-rendered HTML pages shared by the domains' views (autoescaped Jinja)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from nurture.config import PACKAGE_DIR, get_settings

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "pages"))


def render_page(
    request: Request, template_name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page template with the clinic's name available."""
    context.setdefault("clinic_name", get_settings().clinic_name)
    return templates.TemplateResponse(request, template_name, context, status_code=status_code)


def message_page(
    request: Request, *, title: str, message: str, status_code: int = 200
) -> HTMLResponse:
    """Render a simple page with a heading and one paragraph."""
    return render_page(request, "message.html", status_code, title=title, message=message)
