"""A conversation with one number in the studio: the texts both ways, and staff's answer."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import update

from nurture.core import clock
from nurture.delivery import staff_texts
from nurture.delivery.text_results import KINDS
from nurture.http.deps import SessionDep
from nurture.outbox.models import TextReply
from nurture.rendering import segments
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.web import PREFIX, StaffDep, committed, page, studio_router

router = studio_router()


def _phone(number: str, session: SessionDep, staff: StaffUser) -> str:
    """Return the E.164 number an address names (its digits, without the +), or 404.

    Staff kept to some locations reach only the numbers of their people.
    """
    if not (number.isascii() and number.isdigit() and 6 <= len(number) <= 15):
        raise HTTPException(status_code=404, detail="No such number.")
    phone = "+" + number
    if not site_scope.may_see_reply(session, staff, staff_texts.lead_of(session, phone)):
        raise HTTPException(status_code=404, detail="No such number.")
    return phone


def conversation_url(phone: str) -> str:
    """Return the studio address of the conversation with `phone` (E.164)."""
    return f"{PREFIX}/texts/numbers/{phone.lstrip('+')}"


def _page(
    request: Request,
    staff: StaffUser,
    session: SessionDep,
    phone: str,
    *,
    draft: str = "",
    problem: str | None = None,
) -> HTMLResponse:
    lead_id = staff_texts.lead_of(session, phone)
    refusal = staff_texts.refusal(session, phone=phone, lead_id=lead_id)
    return page(
        request,
        "text_conversation.html",
        staff,
        status_code=422 if problem else 200,
        title=f"Texts with {phone}",
        phone=phone,
        number=phone.lstrip("+"),
        lead_id=lead_id,
        said=staff_texts.conversation(session, phone, labels=KINDS),
        refusal=refusal,
        problem=problem,
        draft=draft,
        count=segments.count(draft),
        once=secrets.token_hex(16),
        most=staff_texts.MAX_ANSWER,
    )


@router.get("/texts/numbers/{number}", response_class=HTMLResponse)
def conversation(
    number: str, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """Every text to and from one number, oldest first, with a box to answer."""
    return _page(request, staff, session, _phone(number, session, staff))


@router.post("/texts/numbers/{number}/answer", response_model=None)
def answer(
    number: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    body: Annotated[str, Form(max_length=4000)] = "",
    once: Annotated[str, Form(max_length=64)] = "",
) -> Response | HTMLResponse:
    """Send staff's answer as a text (once, however often the form is sent)."""
    phone = _phone(number, session, staff)
    now = clock.now()
    try:
        message, new = staff_texts.plan_answer(session, phone=phone, body=body, once=once, now=now)
    except staff_texts.AnswerRefused as exc:
        session.rollback()
        return _page(request, staff, session, phone, draft=body, problem=str(exc))
    if not new:
        return committed(
            request,
            session,
            staff,
            url=conversation_url(phone),
            flash="That answer was sent already; it goes once.",
            action="texts.answer.again",
            target=f"text {message.id}",
        )
    # Answering a number deals with what it sent.
    session.execute(
        update(TextReply)
        .where(TextReply.from_phone == phone, TextReply.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return committed(
        request,
        session,
        staff,
        url=conversation_url(phone),
        flash="Your answer is on its way; it shows below once sent.",
        action="texts.answer",
        target=f"text {message.id} to {phone}",
        after={"characters": len(str(message.context.get("body", "")))},
    )
