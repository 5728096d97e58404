"""The local outbox pages: read the .eml files the outbox backend wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import and_, or_, select

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_scope
from nurture.http.pages import render_page
from nurture.outbox.models import Message, MessageStatus

router = APIRouter()

_NAME = re.compile(r"^[0-9TZ]+-[0-9a-f]{12}\.eml$")
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
# The service's own pages refuse to be framed (frame-ancestors 'none'), so a link followed inside
# the preview frame would show a blocked page: links open in the whole tab instead.
_BASE_TARGET = '<base target="_top">'


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One email file in the outbox."""

    name: str
    to: str
    subject: str
    date: str


@dataclass(frozen=True, slots=True)
class TextEntry:
    """One text file in the outbox's texts folder."""

    to: str
    body: str
    date: str


def _texts(folder: Path) -> list[TextEntry]:
    """Read the texts the outbox text backend wrote, newest first (at most 500)."""
    texts = folder / "texts"
    files = sorted(texts.glob("*.txt"), reverse=True) if texts.is_dir() else []
    entries = []
    for path in files[:500]:
        head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        to = next((line[4:] for line in head.splitlines() if line.startswith("To: ")), "")
        stamp = path.name.split("-", 1)[0]
        date = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} UTC"
        entries.append(TextEntry(to, body.strip(), date))
    return entries


def _outbox_dir() -> Path:
    settings = get_settings()
    if settings.env == "production":
        raise HTTPException(status_code=404)
    return settings.resolved_outbox_dir


def _parse(path: Path) -> EmailMessage:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    assert isinstance(message, EmailMessage)
    return message


def _links_open_in_tab(html: str) -> str:
    """Return the HTML with a base target that makes its links navigate the whole tab."""
    if not html:
        return html
    head = _HEAD.search(html)
    if head is None:
        return _BASE_TARGET + html
    return html[: head.end()] + _BASE_TARGET + html[head.end() :]


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


@router.get("/outbox", response_class=HTMLResponse, include_in_schema=False)
def outbox_list(request: Request) -> HTMLResponse:
    """List the emails and texts written to the local outbox, newest first."""
    folder = _outbox_dir()
    entries = []
    files = sorted(folder.glob("*.eml"), reverse=True) if folder.is_dir() else []
    for path in files[:500]:
        message = _parse(path)
        entries.append(
            OutboxEntry(
                path.name, str(message["To"]), str(message["Subject"]), str(message["Date"])
            )
        )
    # Empty, or with emails still on their way: the page looks again by itself (a meta
    # refresh, which the content security policy leaves alone), so the first email shows up.
    refresh = not entries or _on_their_way()
    return render_page(
        request,
        "outbox_list.html",
        title="Outbox",
        entries=entries,
        texts=_texts(folder),
        folder=str(folder),
        refresh_seconds=REFRESH_SECONDS if refresh else None,
    )


REFRESH_SECONDS = 3


def _on_their_way() -> bool:
    """Tell whether any email is being sent or is due and waiting for the worker."""
    now = clock.now()
    waiting = or_(
        Message.status == MessageStatus.SENDING,
        and_(Message.status == MessageStatus.PENDING, Message.due_at <= now),
    )
    with session_scope() as session:
        return session.scalar(select(Message.id).where(waiting).limit(1)) is not None


@router.get("/outbox/{name}", response_class=HTMLResponse, include_in_schema=False)
def outbox_view(name: str, request: Request) -> HTMLResponse:
    """Show one email: its headers, the plain-text part and the HTML part."""
    path = _outbox_file(name)
    message = _parse(path)
    headers = [(k, str(v)) for k, v in message.items()]
    return render_page(
        request,
        "outbox_view.html",
        title=str(message["Subject"]),
        name=name,
        headers=headers,
        text=_part(message, "plain"),
        html=_links_open_in_tab(_part(message, "html")),
    )


@router.get("/outbox/{name}/raw", include_in_schema=False)
def outbox_raw(name: str) -> Response:
    """Download the .eml file to open in a mail program."""
    path = _outbox_file(name)
    return Response(
        path.read_bytes(),
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _outbox_file(name: str) -> Path:
    if not _NAME.match(name):
        raise HTTPException(status_code=404, detail="No such email in the outbox.")
    path = _outbox_dir() / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="No such email in the outbox.")
    return path
