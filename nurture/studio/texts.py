"""Texts in the studio: patients' replies that need a person, and what each visit text says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery.models import TextReply
from nurture.http.deps import RowId, SessionDep
from nurture.messages.contexts import clinic_context
from nurture.messages.text_checks import problems
from nurture.rendering import segments
from nurture.rendering.environment import get_renderer
from nurture.studio.web import PREFIX, StaffDep, committed, page, studio_router

router = studio_router()
TEXTS = {
    "appointment_confirmation": "Booking confirmation",
    "appointment_reminder": "Reminder",
    "appointment_nudge": "Please confirm",
    "appointment_update": "Visit moved",
    "appointment_cancellation": "Visit cancelled",
}
PAGE_SIZE = 100


def _samples() -> list[dict[str, Any]]:
    """Each visit text as a patient reads it, with its segment count and checks."""
    s = get_settings()
    context = {
        **clinic_context(),
        "visit": {
            "starts_at": clock.now() + timedelta(days=2),
            "timezone": s.clinic_timezone,
            "address": clinic_context()["clinic"]["address"],
            "duration_minutes": 30,
        },
        "kind": "reminder",
        "revision": 0,
    }
    renderer = get_renderer()
    rows = []
    for name, label in TEXTS.items():
        path = s.templates_dir / "texts" / f"{name}.txt"
        source = path.read_text(encoding="utf-8") if path.is_file() else ""
        try:
            body = renderer.render_text(name, context)
            error = ""
        except Exception as exc:  # noqa: BLE001 - shown to staff instead of failing the page
            body, error = "", f"This text cannot be rendered: {exc}"
        rows.append(
            {
                "label": label,
                "body": body,
                "error": error,
                "count": segments.count(body),
                "problems": problems(name, source),
            }
        )
    return rows


@router.get("/texts", response_class=HTMLResponse)
def texts_page(request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """Replies no keyword answered (unread first), and each visit text with its length."""
    replies = list(
        session.scalars(
            select(TextReply)
            .where(TextReply.action == "inbox")
            .order_by(TextReply.read_at.is_not(None), TextReply.received_at.desc())
            .limit(PAGE_SIZE)
        )
    )
    return page(
        request,
        "texts.html",
        staff,
        title="Texts",
        replies=replies,
        samples=_samples(),
    )


@router.post("/texts/{reply_id}/read")
def mark_read(reply_id: RowId, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Mark a patient's reply as read (answered by phone or text outside Nurture)."""
    reply = session.get(TextReply, reply_id)
    if reply is None or reply.read_at is not None:
        return committed(
            request,
            session,
            staff,
            url=f"{PREFIX}/texts",
            flash="Nothing to mark.",
            action="texts.read",
            target=f"reply {reply_id}",
        )
    reply.read_at = clock.now()
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/texts",
        flash="Marked as read.",
        action="texts.read",
        target=f"reply {reply.id}",
    )
