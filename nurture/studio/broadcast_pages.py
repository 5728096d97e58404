"""One broadcast: who gets it, the email, a test send, scheduling, cancelling and results."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from nurture.broadcasts import service as broadcasts
from nurture.broadcasts.audience import audience
from nurture.broadcasts.models import Broadcast, BroadcastStatus
from nurture.broadcasts.planning import pending_count, segment_of
from nurture.broadcasts.results import COLUMNS, STATES, broadcast_results
from nurture.core import clock, languages
from nurture.core.config import get_settings
from nurture.delivery.channels.base import DeliveryError
from nurture.delivery.proofs import send_proof
from nurture.http.deps import RowId, SessionDep
from nurture.leads.segments import Segment, describe
from nurture.sequences.translations import language_name
from nurture.staff import audit
from nurture.studio import site_scope
from nurture.studio.broadcasts import broadcast_or_404
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()
DAYS_DEFAULT = 7
DAYS_MAX = 90


def _days(raw: str) -> tuple[int, str | None]:
    try:
        days = int(raw)
    except ValueError:
        return DAYS_DEFAULT, f"Booked within: enter a number of days from 1 to {DAYS_MAX}."
    if not 1 <= days <= DAYS_MAX:
        return DAYS_DEFAULT, f"Booked within: enter a number of days from 1 to {DAYS_MAX}."
    return days, None


def _untranslated(
    session: Session, broadcast: Broadcast, segment: Segment
) -> list[tuple[str, int]]:
    """Each language the broadcast lacks, with how many who would get it read that language.

    They get the original, in the clinic's default language.
    """
    missing: list[tuple[str, int]] = []
    for tag in languages.offered()[1:]:
        if tag in (broadcast.translations or {}) or segment.language not in (None, tag):
            continue
        found = audience(session, segment=replace(segment, language=tag), sample_size=0)
        if found.eligible:
            missing.append((language_name(tag), found.eligible))
    return missing


def _page(
    request: Request,
    staff: Any,
    session: Session,
    broadcast: Broadcast,
    *,
    status_code: int = 200,
    error: str | None = None,
    days_text: str = str(DAYS_DEFAULT),
    send_at: str = "",
) -> HTMLResponse:
    segment = segment_of(broadcast)
    context: dict[str, Any] = {"segment_words": describe(segment)}
    if broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        scoped = site_scope.scoped(segment, staff)
        context["audience"] = audience(session, segment=scoped)
        context["untranslated"] = _untranslated(session, broadcast, scoped)
    if broadcast.status == BroadcastStatus.DRAFT:
        # A broadcast to one location's people is shown as they get it.
        one = sorted(segment.locations) if len(segment.locations) == 1 else [None]
        checked = broadcasts.check_content(
            broadcast.subject, broadcast.preheader, broadcast.body_markdown, location_key=one[0]
        )
        context["email"] = checked.email
        context["problems"] = [p for p in checked.errors if p.field != "text"]
    else:
        days, days_error = _days(days_text)
        error = error or days_error
        context["result"] = broadcast_results(session, broadcast, booked_within_days=days)
        context["waiting"] = pending_count(session, broadcast_id=broadcast.id)
    return page(
        request,
        "broadcast.html",
        staff,
        status_code=status_code,
        title=broadcast.name,
        broadcast=broadcast,
        error=error,
        days_text=days_text,
        send_at=send_at,
        states=STATES,
        columns=COLUMNS,
        zone=get_settings().clinic_timezone,
        **context,
    )


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(
    broadcast_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    days: str = str(DAYS_DEFAULT),
) -> HTMLResponse:
    """Who gets it and the email (a draft); when it goes (scheduled); what it did (results)."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    days_text = days[:10]
    status = 422 if broadcast.status != BroadcastStatus.DRAFT and _days(days_text)[1] else 200
    return _page(request, staff, session, broadcast, days_text=days_text, status_code=status)


@router.post("/broadcasts/{broadcast_id}/test", response_class=HTMLResponse)
def send_test(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Send the saved broadcast to the signed-in staff member, marked as a test."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    checked = broadcasts.check_content(
        broadcast.subject, broadcast.preheader, broadcast.body_markdown
    )
    if checked.email is None or checked.errors:
        return _page(
            request,
            staff,
            session,
            broadcast,
            status_code=422,
            error="The email has problems to fix first; edit the draft.",
        )
    try:
        send_proof(checked.email, to_email=staff.email)
    except DeliveryError as exc:
        return _page(
            request,
            staff,
            session,
            broadcast,
            status_code=502,
            error=f"The test was not sent: {exc}",
        )
    audit.record(
        session,
        staff=staff,
        action="broadcast.test_send",
        target=f"broadcast {broadcast.id} {broadcast.name}",
    )
    session.commit()
    return redirect(
        request,
        f"{PREFIX}/broadcasts/{broadcast.id}",
        f"Test sent to {staff.email} (marked [Test], not counted in results).",
    )


@router.post("/broadcasts/{broadcast_id}/schedule", response_class=HTMLResponse)
def schedule_broadcast(
    broadcast_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    when: Annotated[str, Form()] = "later",
    send_at: Annotated[str, Form()] = "",
) -> Response:
    """Schedule a draft for a time in the clinic's zone, or for now (each person's window)."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    now = clock.now()
    send_at = send_at[:40]
    try:
        if when not in ("now", "later"):
            raise ValueError("choose to send at a time, or now")
        at = (
            None
            if when == "now"
            else broadcasts.parse_send_at(send_at, zone=ZoneInfo(get_settings().clinic_timezone))
        )
        broadcasts.schedule(session, broadcast=broadcast, at=at, now=now)
    except ValueError as exc:  # NotEditable too
        session.rollback()
        return _page(
            request,
            staff,
            session,
            broadcast,
            status_code=409 if isinstance(exc, broadcasts.NotEditable) else 422,
            error=f"Not scheduled: {exc}.",
            send_at=send_at,
        )
    scheduled = broadcast.scheduled_at.isoformat() if broadcast.scheduled_at else None
    flash = (
        "Scheduled to go now: each person gets it when their send window next opens."
        if at is None
        else "Scheduled. You can cancel it until it goes."
    )
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts/{broadcast.id}",
        flash=flash,
        action="broadcast.schedule",
        target=f"broadcast {broadcast.id} {broadcast.name}",
        after={"scheduled_at": scheduled},
    )


@router.post("/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel_broadcast(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Cancel a scheduled or sending broadcast: nothing not yet sent goes out."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    before = {"status": broadcast.status}
    try:
        stopped = broadcasts.cancel(session, broadcast=broadcast, now=clock.now())
    except broadcasts.NotEditable as exc:
        session.rollback()
        return _page(
            request, staff, session, broadcast, status_code=409, error=f"Not cancelled: {exc}."
        )
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts/{broadcast.id}",
        flash=f"Cancelled. {stopped} email(s) not yet sent were stopped.",
        action="broadcast.cancel",
        target=f"broadcast {broadcast.id} {broadcast.name}",
        before=before,
        after={"status": broadcast.status, "stopped": stopped},
    )


@router.post("/broadcasts/{broadcast_id}/copy", response_class=HTMLResponse)
def copy_broadcast(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Start a new draft from this broadcast's email and segment."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    duplicate = broadcasts.copy(
        session, broadcast=broadcast, created_by_id=staff.id, now=clock.now()
    )
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts/{duplicate.id}/edit",
        flash="Copied to a new draft.",
        action="broadcast.create",
        target=f"broadcast {duplicate.id} {duplicate.name}",
        after=broadcasts.fields_of(duplicate),
    )


@router.post("/broadcasts/{broadcast_id}/delete", response_class=HTMLResponse)
def delete_broadcast(
    broadcast_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> Response:
    """Delete a draft."""
    broadcast = broadcast_or_404(session, broadcast_id, staff)
    before = broadcasts.fields_of(broadcast)
    target = f"broadcast {broadcast.id} {broadcast.name}"
    try:
        broadcasts.delete_draft(session, broadcast=broadcast)
    except broadcasts.NotEditable as exc:
        return _page(
            request, staff, session, broadcast, status_code=409, error=f"Not deleted: {exc}."
        )
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/broadcasts",
        flash="Draft deleted.",
        action="broadcast.delete",
        target=target,
        before=before,
    )
