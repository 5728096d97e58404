"""The leads list: filters as bookmarkable query parameters, paging, bulk actions, CSV in and out.

Which leads a filter picks is `nurture.leads.segments`' business (the same segments broadcasts
use); this module only reads the filter from the request, shows the page and applies an action
to the leads picked, through the same service functions as the single-lead actions.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from nurture.core import clock, dispatch, languages
from nurture.core.csvread import count_rows
from nurture.core.db import chunked
from nurture.enrollments.service import exit_active
from nurture.http.deps import RowId, SessionDep
from nurture.jobs import service as jobs
from nurture.leads import preference_changes, segments, tags
from nurture.leads import service as leads
from nurture.leads.imports import LeadImportError, check_first_line, export_csv
from nurture.leads.models import Lead
from nurture.leads.segments import Segment
from nurture.sequences.models import Sequence
from nurture.staff import audit
from nurture.staff.models import AuditEntry, StaffUser
from nurture.studio import site_scope
from nurture.studio.auth import Role
from nurture.studio.jobs import problem_report
from nurture.studio.people_filters import filter_params
from nurture.studio.people_filters import form_fields as _fields
from nurture.studio.people_filters import segment_from_form as _segment
from nurture.studio.web import (
    PREFIX,
    AdminDep,
    AdminOnly,
    StaffDep,
    allow_form_fields,
    committed,
    download,
    page,
    read_form,
    redirect,
    studio_router,
)

router = studio_router()
PAGE_SIZE = 50
# Bulk changes run in one request and one transaction (a few ms a lead: pausing 2,000 took
# about 4 s on SQLite); past this, narrow the filter.
BULK_LIMIT = 2000
# One field per ticked lead plus the filter: read up to twice the limit, so that a few too
# many get the page's own answer ("change at most 2,000 leads at once").
BULK_FORM_FIELDS = 2 * BULK_LIMIT + 100
ACTIONS = frozenset({"pause", "remove", "unsubscribe", "export", "tag", "untag"})
allow_form_fields("/leads/bulk", BULK_FORM_FIELDS)


async def _form_items(request: Request) -> list[tuple[str, str]]:
    """The posted form's text fields, repeated names kept (the CSRF check has read it already)."""
    form = await read_form(request)
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


FormItems = Annotated[list[tuple[str, str]], Depends(_form_items)]


def _list_url(segment: Segment, offset: int = 0) -> str:
    params = filter_params(segment) + ([("offset", str(offset))] if offset else [])
    return f"{PREFIX}/leads" + (f"?{urlencode(params)}" if params else "")


@router.get("/leads", response_class=HTMLResponse)
def lead_list(
    request: Request, staff: StaffDep, session: SessionDep, offset: int = 0
) -> HTMLResponse:
    """List the leads a filter picks, newest first, with the actions for many at once."""
    segment, errors = _segment(list(request.query_params.multi_items()))
    return _list_page(
        request, staff, session, segment=segment, errors=errors, offset=min(max(0, offset), 10**9)
    )


def _list_page(
    request: Request,
    staff: StaffUser,
    session: Session,
    *,
    segment: Segment,
    errors: dict[str, str] | None = None,
    offset: int = 0,
    status_code: int = 200,
    upload: dict[str, Any] | None = None,
) -> HTMLResponse:
    total, found = 0, []
    if not errors:
        # A filter with mistakes lists nothing, so nothing is done to leads it did not mean.
        ids = segments.lead_ids(site_scope.scoped(segment, staff))
        total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
        found = list(
            session.scalars(
                select(Lead)
                .where(Lead.id.in_(ids))
                .order_by(Lead.created_at.desc(), Lead.id.desc())
                .limit(PAGE_SIZE)
                .offset(offset)
            )
        )
    return page(
        request,
        "leads.html",
        staff,
        status_code=400 if errors and status_code == 200 else status_code,
        title="Leads",
        segment=segment,
        described=segments.describe(segment),
        filtered=not segment.is_everyone,
        filters=filter_params(segment),
        errors=errors or {},
        total=total,
        leads=found,
        offset=offset,
        shown_to=offset + len(found),
        newer=_list_url(segment, max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        older=_list_url(segment, offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        types=list(segments.TYPE_WORDS.items()),
        statuses=list(segments.STATUS_WORDS.items()),
        languages=[(tag, segments.language_word(tag)) for tag in languages.offered()],
        language_word=segments.language_word,
        sequences=_sequences(session),
        tags_in_use=tags.in_use(session),
        sites=site_scope.sites_for(staff),
        kept_to_sites=site_scope.allowed(staff) is not None,
        bulk_limit=BULK_LIMIT,
        imports=jobs.recent(session, kind=jobs.LEADS_IMPORT, staff=staff),
        upload=upload,
    )


def _sequences(session: Session) -> list[tuple[str, str]]:
    query = select(Sequence.slug, Sequence.name).order_by(Sequence.name)
    return [(slug, name) for slug, name in session.execute(query)]


def _ticked(fields: dict[str, list[str]]) -> list[int]:
    return sorted({int(v) for v in fields.get("lead", []) if v.isdigit() and len(v) < 19})


def _each(session: Session, ids: list[int], staff: StaffUser | None = None) -> Iterator[Lead]:
    """Yield the leads `ids` (only those within `staff`'s sites, when given)."""
    kept = [] if staff is None else site_scope.lead_filter(staff)
    for chunk in chunked(ids):
        query = select(Lead).where(Lead.id.in_(chunk), *kept).order_by(Lead.id)
        yield from session.scalars(query.options(selectinload(Lead.consents)))


def _plural(count: int) -> str:
    return f"{count:,} lead" + ("" if count == 1 else "s")


@router.post("/leads/bulk")
def bulk_action(
    request: Request, staff: StaffDep, session: SessionDep, items: FormItems
) -> Response:
    """Pause, take out of a sequence, unsubscribe or export the leads chosen, all or none."""
    fields = _fields(items)
    action = fields.get("action", [""])[0]
    if action not in ACTIONS:
        raise HTTPException(status_code=422, detail="Unknown action.")
    if action == "export" and staff.role != Role.ADMIN:
        raise AdminOnly
    segment, errors = _segment(items)
    back = _list_url(segment)
    if errors:
        return redirect(request, back, "Nothing was changed: the filter has mistakes.")
    everyone = fields.get("scope", [""])[0] == "all"
    ticked = [] if everyone else _ticked(fields)
    if not everyone and not ticked:
        return redirect(
            request, back, "Nothing was done: tick leads in the list, or choose all matching."
        )
    # The ticked ids are checked against the table (one may have been deleted since).
    chosen = (
        segments.lead_ids(site_scope.scoped(segment, staff))
        if everyone
        else select(Lead.id).where(
            Lead.id.in_(ticked[: BULK_LIMIT + 1]), *site_scope.lead_filter(staff)
        )
    )
    picked = segments.describe(segment) if everyone else "ticked"
    if action == "export":
        return _export(session, staff, chosen, picked)
    ids = list(session.scalars(chosen.order_by(Lead.id).limit(BULK_LIMIT + 1)))
    if len(ids) > BULK_LIMIT or len(ticked) > BULK_LIMIT:
        return redirect(
            request,
            back,
            f"Nothing was changed: change at most {BULK_LIMIT:,} leads at once. "
            "Narrow the filter (signed up between two dates, say) and repeat.",
        )
    if not ids:
        return redirect(request, back, "Nothing was changed: none of those leads exists now.")
    now = clock.now()
    if action == "pause":
        return _pause(request, session, staff, ids, fields, now, back, picked)
    if action == "remove":
        return _remove(request, session, staff, ids, fields, now, back, picked)
    if action in ("tag", "untag"):
        return _tag(request, session, staff, ids, fields, now, back, picked, add=action == "tag")
    changed = sum(leads.unsubscribe(session, lead=lead, now=now) for lead in _each(session, ids))
    already = len(ids) - changed
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Unsubscribed {_plural(changed)}."
        + (f" {already:,} {'was' if already == 1 else 'were'} already." if already else ""),
        action="leads.bulk_unsubscribe",
        target=_plural(len(ids)),
        after={"count": len(ids), "unsubscribed": changed, "picked": picked, "ids": ids},
    )


def _pause(
    request: Request,
    session: Session,
    staff: StaffUser,
    ids: list[int],
    fields: dict[str, list[str]],
    now: datetime,
    back: str,
    picked: str,
) -> Response:
    weeks = fields.get("weeks", [""])[0]
    if weeks not in ("2", "4"):
        return redirect(request, back, "Nothing was changed: pause for 2 or 4 weeks.")
    until = now
    for lead in _each(session, ids):
        until = preference_changes.pause(session, lead=lead, weeks=int(weeks), now=now)
    entry = audit.record(
        session,
        staff=staff,
        action="leads.bulk_pause",
        target=_plural(len(ids)),
        after={
            "count": len(ids),
            "until": until.isoformat(),
            "picked": picked,
            "back": back,
            "ids": ids,
        },
    )
    session.commit()
    # Cheap to take back: the next page offers to resume exactly these leads.
    request.session["undo"] = f"{PREFIX}/leads/bulk/undo/{entry.id}"
    return redirect(request, back, f"Paused {_plural(len(ids))} until {until:%d %B %Y}.")


def _tag(
    request: Request,
    session: Session,
    staff: StaffUser,
    ids: list[int],
    fields: dict[str, list[str]],
    now: datetime,
    back: str,
    picked: str,
    *,
    add: bool,
) -> Response:
    try:
        tag = segments.clean_tag(fields.get("bulk_tag", [""])[0])
    except ValueError as exc:
        return redirect(request, back, f"Nothing was changed: the tag must {exc}.")
    if add:
        changed = tags.add(session, lead_ids=ids, tag=tag, now=now)
        flash = f"Tagged {_plural(changed)} \u201c{tag}\u201d."
    else:
        changed = tags.remove(session, lead_ids=ids, tag=tag)
        flash = f"Took the tag \u201c{tag}\u201d off {_plural(changed)}."
    unchanged = len(ids) - changed
    if unchanged:
        flash += f" {unchanged:,} {'was' if unchanged == 1 else 'were'} already so."
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=flash,
        action="leads.bulk_tag" if add else "leads.bulk_untag",
        target=f"{_plural(len(ids))} {tag}",
        after={"count": len(ids), "changed": changed, "tag": tag, "picked": picked, "ids": ids},
    )


def _remove(
    request: Request,
    session: Session,
    staff: StaffUser,
    ids: list[int],
    fields: dict[str, list[str]],
    now: datetime,
    back: str,
    picked: str,
) -> Response:
    slug = fields.get("from_sequence", [""])[0]
    sequence = session.scalar(select(Sequence).where(Sequence.slug == slug)) if slug else None
    if sequence is None:
        return redirect(request, back, "Nothing was changed: choose the sequence to remove from.")
    ended = sum(
        exit_active(session, lead_id=lead_id, reason="staff", at=now, sequence_id=sequence.id)
        for lead_id in ids
    )
    others = len(ids) - ended
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Removed {_plural(ended)} from {sequence.name}; their unsent emails from it are "
        "cancelled."
        + (f" {others:,} {'was' if others == 1 else 'were'} not in it." if others else ""),
        action="leads.bulk_remove",
        target=f"{_plural(len(ids))} from {sequence.slug}",
        after={
            "count": len(ids),
            "removed": ended,
            "sequence": sequence.slug,
            "picked": picked,
            "ids": ids,
        },
    )


def _export(
    session: Session,
    staff: StaffUser,
    chosen: Select[Any],
    picked: str,
) -> Response:
    buffer = io.StringIO()
    count = export_csv(session, buffer, only=chosen)
    audit.record(
        session,
        staff=staff,
        action="leads.bulk_export",
        target=_plural(count),
        after={"count": count, "picked": picked},
    )
    session.commit()
    return download(
        buffer.getvalue(), filename="leads-selection.csv", media_type="text/csv; charset=utf-8"
    )


@router.post("/leads/bulk/undo/{entry_id}")
def undo_pause(entry_id: RowId, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Resume the leads a bulk pause paused, if that pause is still theirs."""
    entry = session.get(AuditEntry, entry_id)
    after = entry.after if entry is not None and entry.action == "leads.bulk_pause" else None
    if not after:
        return redirect(request, f"{PREFIX}/leads", "Nothing to undo: that was not a bulk pause.")
    back = str(after.get("back") or f"{PREFIX}/leads")
    until = datetime.fromisoformat(str(after["until"]))
    ids = [i for i in after.get("ids", []) if isinstance(i, int)]
    now = clock.now()
    resumed = [
        lead.id
        # Another account's pause may name people beyond this account's sites: not theirs.
        for lead in _each(session, ids, staff)
        # A lead paused again since (by themselves or staff) keeps that later pause.
        if lead.paused_until == until and preference_changes.resume(session, lead=lead, now=now)
    ]
    if not resumed:
        return redirect(request, back, "Nothing to undo: none of those leads is paused by it.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Resumed {_plural(len(resumed))}; their emails carry on from today.",
        action="leads.bulk_resume",
        target=_plural(len(resumed)),
        after={"undoes": entry_id, "count": len(resumed), "ids": resumed},
    )


@router.get("/leads/export")
def leads_export(staff: AdminDep, session: SessionDep) -> Response:
    """Download every lead as CSV (the import's columns plus status)."""
    buffer = io.StringIO()
    count = export_csv(session, buffer)
    audit.record(session, staff=staff, action="leads.export", target=f"{count} leads")
    session.commit()
    return download(buffer.getvalue(), filename="leads.csv", media_type="text/csv; charset=utf-8")


@router.post("/leads/import", response_class=HTMLResponse)
def leads_import(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Queue a CSV of leads for a worker to import (all rows or none) and show its progress.

    A plain `def`, so the file is read in a worker thread: the event loop keeps answering the
    public pages. Only the first line is checked here; the rows, every one, are the job's.
    """
    data = file.file.read()
    filename = file.filename or "upload"
    try:
        check_first_line(data)
    except LeadImportError as exc:
        upload = {
            "filename": filename,
            "rows": count_rows(data),
            "report": problem_report(exc.problems),
        }
        return _list_page(
            request, staff, session, segment=Segment(), status_code=422, upload=upload
        )
    job = jobs.create(
        session,
        kind=jobs.LEADS_IMPORT,
        payload=data,
        filename=filename,
        staff_id=staff.id,
        now=clock.now(),
    )
    session.commit()
    if not dispatch.enqueue_job(job.id):
        jobs.not_dispatched(session, job_id=job.id)
        session.commit()
    return redirect(request, f"{PREFIX}/jobs/{job.id}")
