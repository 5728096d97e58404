"""Texts in the studio: patients' replies that need a person, and what each visit text says."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, select

from nurture.clinic.models import ClinicSetting
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import texts as text_messages
from nurture.http.deps import RowId, SessionDep
from nurture.messages.contexts import clinic_context
from nurture.messages.text_checks import problems
from nurture.outbox.models import TextReply
from nurture.rendering import segments
from nurture.studio import site_scope
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
MAX_SOURCE = 640


def _context() -> dict[str, Any]:
    """A visit two days from now at the clinic, to show each text with."""
    s = get_settings()
    return {
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


def shipped_source(name: str) -> str:
    """Return the wording of text `name` as shipped in templates/."""
    path = get_settings().templates_dir / "texts" / f"{name}.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def _sample(name: str, sources: dict[str, str]) -> dict[str, Any]:
    """Text `name` as a patient reads it, with its segment count and checks."""
    source = sources.get(name, shipped_source(name))
    try:
        body = text_messages.render_text(name, _context(), sources)
        error = ""
    except Exception as exc:  # noqa: BLE001 - shown to staff instead of failing the page
        body, error = "", f"This text cannot be shown: {type(exc).__name__}: {exc}"
    return {
        "name": name,
        "label": TEXTS[name],
        "source": source,
        "changed": name in sources,
        "body": body,
        "error": error,
        "count": segments.count(body),
        "problems": problems(name, source),
    }


def _samples(session: SessionDep) -> list[dict[str, Any]]:
    sources = text_messages.studio_sources(session)
    return [_sample(name, sources) for name in TEXTS]


@router.get("/texts", response_class=HTMLResponse)
def texts_page(request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """Replies no keyword answered (unread first), and each visit text with its length."""
    replies = list(
        session.scalars(
            select(TextReply)
            .where(TextReply.action == "inbox", *site_scope.reply_filter(staff))
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
        samples=_samples(session),
    )


def _name(name: str) -> str:
    if name not in TEXTS:
        raise HTTPException(status_code=404, detail="No such text.")
    return name


@router.get("/texts/edit/{name}", response_class=HTMLResponse)
def edit_text(name: str, request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """Change what one visit text says, with its length counted as it is typed."""
    sample = _sample(_name(name), text_messages.studio_sources(session))
    return page(request, "text_edit.html", staff, title=sample["label"], sample=sample)


@router.post("/texts/edit/{name}", response_model=None)
def save_text(
    name: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    source: Annotated[str, Form(max_length=4000)] = "",
    reset: Annotated[str, Form()] = "",
) -> Response | HTMLResponse:
    """Save the new wording if it renders and passes the checks; or go back to the shipped one."""
    name = _name(name)
    key = text_messages.SOURCE_KEY + name
    if reset:
        session.execute(delete(ClinicSetting).where(ClinicSetting.key == key))
        return committed(
            request,
            session,
            staff,
            url=f"{PREFIX}/texts",
            flash=f"{TEXTS[name]}: back to the shipped wording.",
            action="texts.reset",
            target=f"text {name}",
        )
    source = source.replace("\r\n", "\n").strip()
    sources = {**text_messages.studio_sources(session), name: source}
    sample = _sample(name, sources)
    found = list(sample["problems"])
    if len(source) > MAX_SOURCE:
        found.append(f"It is {len(source)} characters long; keep it under {MAX_SOURCE}.")
    if sample["error"]:
        found.append(sample["error"])
    if found:
        sample["problems"] = found
        return page(
            request, "text_edit.html", staff, title=TEXTS[name], sample=sample, status_code=422
        )
    row = session.get(ClinicSetting, key)
    before = {"source": row.value} if row is not None else {"source": shipped_source(name)}
    if row is None:
        session.add(ClinicSetting(key=key, value=source, updated_at=clock.now()))
    else:
        row.value, row.updated_at = source, clock.now()
    if sample["count"].segments > 1:
        flash = f"Saved. It takes {sample['count'].segments} segments; aim for one."
    else:
        flash = "Saved: texts use the new wording from now on."
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/texts",
        flash=flash,
        action="texts.edit",
        target=f"text {name}",
        before=before,
        after={"source": source},
    )


@router.post("/texts/{reply_id}/read")
def mark_read(reply_id: RowId, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Mark a patient's reply as read (answered by phone or text outside Nurture)."""
    reply = session.get(TextReply, reply_id)
    if reply is not None and not site_scope.may_see_reply(session, staff, reply.lead_id):
        reply = None
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
