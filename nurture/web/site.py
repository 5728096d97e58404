"""Site-wide public pages: the privacy notice and the icon browsers ask for."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from nurture.core.config import PACKAGE_DIR, get_settings
from nurture.core.translations import gettext as _
from nurture.http.pages import render_page

router = APIRouter(include_in_schema=False)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    """Say what is kept about a lead, why, for how long and how to have it deleted."""
    return render_page(
        request,
        "privacy.html",
        title=_("Privacy notice"),
        purge_days=get_settings().purge_unconfirmed_days,
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Serve the site icon (every browser asks for it; a 404 would fill the logs)."""
    return FileResponse(
        PACKAGE_DIR / "static" / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
