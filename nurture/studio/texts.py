"""Texts in the studio: patients' replies that need a person, and what each visit text says."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, select

from nurture.clinic.models import ClinicSetting
from nurture.core import clock, languages
from nurture.core.config import get_settings
from nurture.delivery import texts as text_messages
from nurture.http.deps import RowId, SessionDep
from nurture.messages.contexts import clinic_context
from nurture.messages.text_checks import problems
from nurture.outbox.models import TextReply
from nurture.rendering import segments
from nurture.sequences.translations import language_name
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


def shipped_source(name: str, language: str | None = None) -> str:
    """Return the wording of text `name` as shipped in templates/ (in `language` if given)."""
    folder = get_settings().templates_dir
    path = (folder / language if language else folder) / "texts" / f"{name}.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def _key(name: str, language: str | None) -> str:
    """Return where the studio keeps text `name`'s wording: `es/<name>` for Spanish."""
    return f"{language}/{name}" if language else name


def _sample(name: str, sources: dict[str, str], language: str | None = None) -> dict[str, Any]:
    """Text `name` as a patient reads it (in `language`), with its segment count and checks."""
    key = _key(name, language)
    source = sources.get(key, shipped_source(name, language))
    try:
        body = text_messages.render_text(name, _context(), sources, language)
        error = ""
    except Exception as exc:  # noqa: BLE001 - shown to staff instead of failing the page
        body, error = "", f"This text cannot be shown: {type(exc).__name__}: {exc}"
    return {
        "name": name,
        "label": TEXTS[name],
        "language": language,
        "language_name": language_name(language) if language else "",
        "url": f"{PREFIX}/texts/edit/{name}" + (f"/languages/{language}" if language else ""),
        "source": source,
        "changed": key in sources,
        "body": body,
        "error": error,
        "count": segments.count(body),
        "problems": problems(name, source),
    }


def _samples(session: SessionDep) -> list[dict[str, Any]]:
    sources = text_messages.studio_sources(session)
    others = languages.offered()[1:]
    return [
        {**_sample(name, sources), "languages": [_sample(name, sources, x) for x in others]}
        for name in TEXTS
    ]


def _editor(request: Request, staff: Any, sample: dict[str, Any], status: int = 200) -> Response:
    """The wording editor of one text, with a tab for each language the clinic offers."""
    title = sample["label"] + (f" in {sample['language_name']}" if sample["language"] else "")
    tabs = [(language_name(x), x) for x in languages.offered()[1:]]
    return page(
        request,
        "text_edit.html",
        staff,
        title=title,
        sample=sample,
        tabs=tabs,
        default_name=language_name(languages.default()),
        opt_out=text_messages.OPT_OUTS.get(sample["language"] or "", text_messages.OPT_OUT),
        status_code=status,
    )


def _language(language: str) -> str:
    if language not in languages.offered()[1:]:
        raise HTTPException(status_code=404, detail="The clinic does not offer that language.")
    return language


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
def edit_text(name: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Change what one visit text says, with its length counted as it is typed."""
    return _editor(request, staff, _sample(_name(name), text_messages.studio_sources(session)))


@router.get("/texts/edit/{name}/languages/{language}", response_class=HTMLResponse)
def edit_text_language(
    name: str, language: str, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Change what one visit text says to patients who read `language` (Spanish)."""
    sources = text_messages.studio_sources(session)
    return _editor(request, staff, _sample(_name(name), sources, _language(language)))


Source = Annotated[str, Form(max_length=4000)]
Reset = Annotated[str, Form()]


@router.post("/texts/edit/{name}", response_model=None)
def save_text(
    name: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    source: Source = "",
    reset: Reset = "",
) -> Response:
    """Save the new wording if it renders and passes the checks; or go back to the shipped one."""
    return _save(request, staff, session, _name(name), None, source, reset)


@router.post("/texts/edit/{name}/languages/{language}", response_model=None)
def save_text_language(
    name: str,
    language: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    source: Source = "",
    reset: Reset = "",
) -> Response:
    """Save a language's wording of a text, checked like the original; or reset it."""
    return _save(request, staff, session, _name(name), _language(language), source, reset)


def _save(
    request: Request,
    staff: Any,
    session: SessionDep,
    name: str,
    language: str | None,
    source: str,
    reset: str,
) -> Response:
    key = text_messages.SOURCE_KEY + _key(name, language)
    label = TEXTS[name] + (f" in {language_name(language)}" if language else "")
    target = f"text {name}" + (f" {language}" if language else "")
    if reset:
        session.execute(delete(ClinicSetting).where(ClinicSetting.key == key))
        return committed(
            request,
            session,
            staff,
            url=f"{PREFIX}/texts",
            flash=f"{label}: back to the shipped wording.",
            action="texts.reset",
            target=target,
        )
    source = source.replace("\r\n", "\n").strip()
    sources = {**text_messages.studio_sources(session), _key(name, language): source}
    sample = _sample(name, sources, language)
    found = list(sample["problems"])
    if len(source) > MAX_SOURCE:
        found.append(f"It is {len(source)} characters long; keep it under {MAX_SOURCE}.")
    if sample["error"]:
        found.append(sample["error"])
    if found:
        sample["problems"] = found
        return _editor(request, staff, sample, status=422)
    row = session.get(ClinicSetting, key)
    shipped = shipped_source(name, language)
    before = {"source": row.value} if row is not None else {"source": shipped}
    if row is None:
        session.add(ClinicSetting(key=key, value=source, updated_at=clock.now()))
    else:
        row.value, row.updated_at = source, clock.now()
    if sample["count"].segments > 1:
        flash = f"Saved. It takes {sample['count'].segments} segments; aim for one."
    else:
        flash = f"Saved: {label} uses the new wording from now on."
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/texts",
        flash=flash,
        action="texts.edit",
        target=target,
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
