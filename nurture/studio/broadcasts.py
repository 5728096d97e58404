"""Broadcasts in the studio: the list, and writing a draft (its email and who gets it)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from nurture.broadcasts import service as broadcasts
from nurture.broadcasts.audience import audience
from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.core import clock
from nurture.http.deps import RowId, SessionDep
from nurture.leads import tags
from nurture.leads.models import LeadStatus, NumbnessType
from nurture.leads.segments import STATUS_WORDS, describe, parse_segment, segment_from_json
from nurture.locations import service as locations
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences import checks
from nurture.sequences.models import Sequence
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.web import PREFIX, StaffDep, committed, page, studio_router

router = studio_router()
LIST_FIELDS = ("numbness_type", "status", "location")
SEGMENT_FIELDS = (
    *LIST_FIELDS,
    "booked",
    "last_visit_before",
    "signed_up_from",
    "signed_up_to",
    "sequence",
    "tag",
    "location",
)


def form_values(form: FormData) -> dict[str, str | list[str]]:
    """Return a posted form as text fields, the repeatable ones as lists."""
    values: dict[str, str | list[str]] = {}
    for name in form:
        texts = [v for v in form.getlist(name) if isinstance(v, str)]
        values[name] = texts if name in LIST_FIELDS else (texts[0] if texts else "")
    return values


def values_of(broadcast: Broadcast) -> dict[str, Any]:
    """Return a broadcast's fields as the form shows them."""
    segment = segment_from_json(broadcast.segment)
    booked = {True: "yes", False: "no", None: ""}[segment.booked]

    def day(value: Any) -> str:
        return value.isoformat() if value else ""

    return {
        "name": broadcast.name,
        "subject": broadcast.subject,
        "preheader": broadcast.preheader,
        "markdown": broadcast.body_markdown,
        "window_start_hour": str(broadcast.window_start_hour),
        "window_end_hour": str(broadcast.window_end_hour),
        "numbness_type": sorted(segment.numbness_types),
        "status": sorted(segment.statuses),
        "booked": booked,
        "last_visit_before": day(segment.last_visit_before),
        "signed_up_from": day(segment.signed_up_from),
        "signed_up_to": day(segment.signed_up_to),
        "sequence": segment.sequence_slug or "",
        "tag": segment.tag or "",
        "location": sorted(segment.locations),
        "language": segment.language or "",
    }


def broadcast_or_404(session: Session, broadcast_id: int, staff: StaffUser) -> Broadcast:
    """Return the broadcast with this id, or answer 404 (also for one beyond staff's sites)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or not _within(broadcast, staff):
        raise HTTPException(status_code=404, detail="No such broadcast.")
    return broadcast


def _edit_page(
    request: Request,
    staff: Any,
    session: Session,
    *,
    values: dict[str, Any],
    broadcast: Broadcast | None = None,
    issues: list[broadcasts.Issue] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    issues = issues or []
    field_errors: dict[str, str] = {}
    for issue in issues:
        if issue.severity == "error":
            field_errors.setdefault(issue.field, issue.message)
    sequences = session.execute(select(Sequence.slug, Sequence.name).order_by(Sequence.name)).all()
    return page(
        request,
        "broadcast_edit.html",
        staff,
        status_code=status_code,
        title=f"Edit {broadcast.name}" if broadcast else "New broadcast",
        broadcast=broadcast,
        values=values,
        errors=[i for i in issues if i.severity == "error"],
        field_errors=field_errors,
        warnings=[i for i in issues if i.severity != "error"],
        types=list(NumbnessType),
        statuses=[(s.value, STATUS_WORDS[s]) for s in LeadStatus],
        sequences=sequences,
        tags_in_use=tags.in_use(session),
        variables=checks.VARIABLES,
        sites=site_scope.sites_for(staff),
        chosen_sites=set(values.get("location") or []),
    )


def _within(broadcast: Broadcast, staff: StaffUser) -> bool:
    """Tell whether the broadcast reaches only people of the account's sites."""
    sites = site_scope.allowed(staff)
    if sites is None:
        return True
    wanted = segment_from_json(broadcast.segment).locations
    return bool(wanted) and wanted <= sites


@router.get("/broadcasts", response_class=HTMLResponse)
def broadcast_list(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    location: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Every broadcast, newest first, with who it went to and how many were sent.

    With a location, only the broadcasts aimed at that location's people.
    """
    items = list(session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(500)))
    sent = dict(
        session.execute(
            select(Message.broadcast_id, func.count())
            .where(
                Message.broadcast_id.in_([b.id for b in items]),
                Message.status == MessageStatus.SENT,
            )
            .group_by(Message.broadcast_id)
        ).all()
    )
    rows = [
        (b, describe(segment_from_json(b.segment)), sent.get(b.id, 0))
        for b in items
        if _within(b, staff)
        and (not location or location in segment_from_json(b.segment).locations)
    ]
    return page(
        request,
        "broadcasts.html",
        staff,
        title="Broadcasts",
        rows=rows,
        sites=site_scope.sites_for(staff),
        chosen_sites={location},
    )


@router.get("/broadcasts/new", response_class=HTMLResponse)
def new_broadcast(request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """An empty broadcast form."""
    values = {"window_start_hour": "9", "window_end_hour": "19"}
    return _edit_page(request, staff, session, values=values)


@router.post("/broadcasts", response_class=HTMLResponse)
async def create_broadcast(request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Save a new draft if every field passes its checks; otherwise say what to fix."""
    values = form_values(await request.form())
    # Checking renders the Markdown: in a worker thread, so other requests carry on meanwhile.
    fields, issues, _ = await run_in_threadpool(broadcasts.read_fields, session, values)
    if fields is None:
        return _edit_page(request, staff, session, values=values, issues=issues, status_code=422)
    fields = replace(fields, segment=site_scope.scoped(fields.segment, staff))
    broadcast = broadcasts.create(session, fields=fields, created_by_id=staff.id, now=clock.now())
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts/{broadcast.id}",
        flash="Draft saved. Check who gets it, send yourself a test, then schedule it.",
        action="broadcast.create",
        target=f"broadcast {broadcast.id} {broadcast.name}",
        after=broadcasts.fields_of(broadcast),
    )


@router.get("/broadcasts/audience")
def audience_count(staff: StaffDep, request: Request, session: SessionDep) -> JSONResponse:
    """Count who the group chosen so far reaches, while it is being chosen; changes nothing."""
    query = request.query_params
    form: dict[str, str | list[str]] = {
        name: query.getlist(name) if name in LIST_FIELDS else query.get(name, "")
        for name in SEGMENT_FIELDS
    }
    segment, errors = parse_segment(form)
    if errors:
        return JSONResponse({"errors": errors}, status_code=422)
    segment = site_scope.scoped(segment, staff)
    found = audience(session, segment=segment, sample_size=0)
    eligible = found.eligible
    words = (
        f"{eligible} {'person' if eligible == 1 else 'people'} would get it now"
        f" ({describe(segment)}); {found.matching - eligible} left out: not subscribed to"
        " marketing email or suppressed."
    )
    return JSONResponse(
        {
            "matching": found.matching,
            "eligible": eligible,
            "not_subscribed": found.not_subscribed,
            "suppressed": found.suppressed,
            "words": words,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/broadcasts/preview")
async def preview_new(staff: StaffDep, request: Request, session: SessionDep) -> JSONResponse:
    """Render a new broadcast as typed, for the live preview."""
    values = form_values(await request.form())
    return await run_in_threadpool(_preview, session, values)  # never on the event loop


@router.get("/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
def edit_broadcast(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """The draft's form, with its live preview."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    if broadcast.status != BroadcastStatus.DRAFT:
        return _not_draft(request, staff, broadcast)
    return _edit_page(request, staff, session, values=values_of(broadcast), broadcast=broadcast)


@router.post("/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
async def save_broadcast(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Save the draft if every field passes its checks; otherwise keep nothing."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    if broadcast.status != BroadcastStatus.DRAFT:
        return _not_draft(request, staff, broadcast)
    values = form_values(await request.form())
    # Checking renders the Markdown: in a worker thread, so other requests carry on meanwhile.
    fields, issues, _ = await run_in_threadpool(broadcasts.read_fields, session, values)
    if fields is None:
        return _edit_page(
            request,
            staff,
            session,
            values=values,
            broadcast=broadcast,
            issues=issues,
            status_code=422,
        )
    fields = replace(fields, segment=site_scope.scoped(fields.segment, staff))
    before = broadcasts.fields_of(broadcast)
    broadcasts.update_draft(session, broadcast=broadcast, fields=fields, now=clock.now())
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts/{broadcast.id}",
        flash="Draft saved. Check who gets it, send yourself a test, then schedule it.",
        action="broadcast.edit",
        target=f"broadcast {broadcast.id} {broadcast.name}",
        before=before,
        after=broadcasts.fields_of(broadcast),
    )


@router.post("/broadcasts/{broadcast_id}/edit/preview")
async def preview_draft(
    broadcast_id: RowId, staff: StaffDep, request: Request, session: SessionDep
) -> JSONResponse:
    """Render a draft as typed (not saved), for the live preview."""
    broadcast_or_404(session, broadcast_id, staff)
    values = form_values(await request.form())
    return await run_in_threadpool(_preview, session, values)  # never on the event loop


def _preview(session: Session, values: dict[str, str | list[str]]) -> JSONResponse:
    """Render a broadcast as typed (in a worker thread: Markdown and Jinja take CPU time)."""
    _, issues, checked = broadcasts.read_fields(session, values)
    aimed = [k for k in values.get("location") or [] if k in locations.keys()]
    if checked is None or len(aimed) == 1:
        # Not written yet: the layout alone, so the preview shows from the first keystroke.
        # Aimed at one location: shown as its people get it (its booking page and phone).
        text = {name: values.get(name) for name in ("subject", "preheader", "markdown")}
        checked = broadcasts.check_content(
            *(value if isinstance(value, str) else "" for value in text.values()),
            location_key=aimed[0] if len(aimed) == 1 else None,
        )
    result: dict[str, Any] = {
        "problems": [
            {"field": i.field, "message": i.message, "severity": i.severity}
            for i in issues
            if i.field in ("subject", "preheader", "markdown")
        ]
    }
    email = checked.email
    if email is not None:
        result.update(
            subject=email.subject, preheader=email.preheader, html=email.html, text=email.text
        )
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


def _not_draft(request: Request, staff: Any, broadcast: Broadcast) -> HTMLResponse:
    return page(
        request,
        "message.html",
        staff,
        status_code=409,
        title="Not a draft",
        message=f"This broadcast is {broadcast.status}, so it can no longer be changed. "
        "Copy it to a new draft to send something similar.",
        back=f"{PREFIX}/broadcasts/{broadcast.id}",
    )
