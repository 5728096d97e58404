"""The outbox in the studio: emails by status, what each one said, retry and resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import texts
from nurture.delivery.compose import compose
from nurture.delivery.facts import gather
from nurture.delivery.retries import retry_window
from nurture.delivery.settle import resolve_unknown, retry_failed
from nurture.http.deps import SessionDep
from nurture.outbox.models import DeliveryEvent, Message, MessageAttempt, MessageStatus
from nurture.rendering import segments
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.web import PREFIX, StaffDep, committed, page, redirect, studio_router

router = studio_router()
PAGE_SIZE = 100


@router.get("/outbox", response_class=HTMLResponse)
def outbox(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    status: str = "failed",
    offset: int = 0,
) -> HTMLResponse:
    """Emails and texts with one status, most recent first, with a count for every status."""
    if status not in set(MessageStatus):
        status = MessageStatus.FAILED
    seen = site_scope.message_filter(staff)
    counts = {
        str(k): int(n)
        for k, n in session.execute(
            select(Message.status, func.count(Message.id)).where(*seen).group_by(Message.status)
        )
    }
    offset = max(0, offset)
    rows = list(
        session.scalars(
            select(Message)
            .where(Message.status == status, *seen)
            .options(selectinload(Message.lead))
            .order_by(Message.due_at.desc(), Message.id.desc())
            .limit(PAGE_SIZE + 1)
            .offset(offset)
        )
    )
    return page(
        request,
        "outbox.html",
        staff,
        title="Outbox",
        status=status,
        statuses=[s.value for s in MessageStatus],
        counts=counts,
        messages=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        offset=offset,
        page_size=PAGE_SIZE,
    )


def _message(session: SessionDep, message_id: int, staff: StaffUser) -> Message:
    message = session.get(Message, message_id) if 0 < message_id < 2**63 else None
    if message is None or not site_scope.may_see_message(session, staff, message):
        raise HTTPException(status_code=404, detail="No such email.")
    return message


@router.get("/outbox/{message_id}", response_class=HTMLResponse)
def outbox_email(
    message_id: int, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """One email: its status and attempts, provider events, and its content."""
    message = _message(session, message_id, staff)
    attempts = list(
        session.scalars(
            select(MessageAttempt)
            .where(MessageAttempt.message_id == message.id)
            .order_by(MessageAttempt.attempted_at)
        )
    )
    events = list(
        session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.message_id == message.id)
            .order_by(DeliveryEvent.occurred_at)
        )
    )
    email = text = None
    render_error = ""
    try:
        # Steps and templates of a published version never change, so rendering again gives
        # what was sent (only the signed links carry a new timestamp).
        facts = gather(session, [message], clock.now())
        if message.channel == "sms":
            texts.gather_texts(session, facts, [message])
            text = texts.compose_text(message, facts)
        else:
            email = compose(message, facts)
    except Exception as exc:  # noqa: BLE001 - shown to staff instead of failing the page
        render_error = f"This message cannot be shown again: {exc}"
    retrying_until = None
    if message.status == MessageStatus.PENDING and message.retrying_since is not None:
        window = retry_window(message, get_settings())
        retrying_until = message.retrying_since + window if window is not None else None
    return page(
        request,
        "outbox_email.html",
        staff,
        title=message.subject or f"Email #{message.id}",
        message=message,
        retrying_until=retrying_until,
        attempts=attempts,
        events=events,
        email=email,
        text=text,
        segments=segments.count(text.body) if text is not None else None,
        render_error=render_error,
    )


@router.post("/outbox/{message_id}/retry")
def retry(message_id: int, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Send a failed email again (checks for suppression and consent still apply)."""
    _message(session, message_id, staff)
    back = f"{PREFIX}/outbox/{message_id}"
    try:
        message = retry_failed(session, message_id=message_id, now=clock.now())
    except (LookupError, ValueError) as exc:
        session.rollback()
        return redirect(request, back, f"Not retried: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash="Queued again: it goes out on the next tick.",
        action="outbox.retry",
        target=f"email {message.id}",
        before={"status": "failed"},
        after={"status": message.status},
    )


@router.post("/outbox/{message_id}/resolve")
def resolve(
    message_id: int,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    outcome: Annotated[str, Form()] = "",
) -> Response:
    """Settle an `unknown` email: the provider had it, or it never got it and must go again."""
    _message(session, message_id, staff)
    back = f"{PREFIX}/outbox/{message_id}"
    if outcome not in ("sent", "not_sent"):
        return redirect(request, back, "Choose whether the provider had the email or not.")
    try:
        message = resolve_unknown(
            session, message_id=message_id, sent=outcome == "sent", now=clock.now()
        )
    except (LookupError, ValueError) as exc:
        session.rollback()
        return redirect(request, back, f"Not resolved: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"Resolved: the email is now {message.status}.",
        action="outbox.resolve",
        target=f"email {message.id}",
        before={"status": "unknown"},
        after={"status": message.status},
    )
