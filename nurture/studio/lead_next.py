"""What a person gets next, and when: their planned emails, then the rest of each sequence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.broadcasts.models import Broadcast
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.enrollments.service import due_for, lead_zone
from nurture.http.deps import RowId, SessionDep
from nurture.leads.models import Lead
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences.models import Step
from nurture.studio import site_scope
from nurture.studio.web import StaffDep, page, studio_router

router = studio_router()


@dataclass(frozen=True, slots=True)
class NextEmail:
    """One email still to come: what it is, when it is due, and whether it is planned yet."""

    what: str
    due_at: datetime
    local: datetime
    planned: bool
    note: str = ""


def _what(session: Session, message: Message, steps: dict[int, Step]) -> str:
    if message.step_id is not None and message.step_id in steps:
        step = steps[message.step_id]
        return f"{step.version.sequence.name}, email {step.position}: {step.subject}"
    if message.broadcast_id is not None:
        broadcast = session.get(Broadcast, message.broadcast_id)
        return f"Broadcast: {broadcast.subject if broadcast else message.broadcast_id}"
    if message.reminder:
        return f"Visit {message.reminder.replace('_', ' ')}"
    return (message.template or "email").replace("_", " ").capitalize()


def upcoming(session: Session, lead: Lead) -> list[NextEmail]:
    """List the lead's planned emails, then each sequence's later steps as they would fall due."""
    tz = lead_zone(lead)
    pending = list(
        session.scalars(
            select(Message)
            .where(Message.lead_id == lead.id, Message.status == MessageStatus.PENDING)
            .order_by(Message.due_at)
        )
    )
    step_ids = {m.step_id for m in pending if m.step_id is not None}
    steps = {s.id: s for s in session.scalars(select(Step).where(Step.id.in_(step_ids)))}
    found = [
        NextEmail(_what(session, m, steps), m.due_at, m.due_at.astimezone(tz), planned=True)
        for m in pending
    ]
    enrollments = session.scalars(
        select(Enrollment).where(
            Enrollment.lead_id == lead.id, Enrollment.status == EnrollmentStatus.ACTIVE
        )
    )
    for enrollment in enrollments:
        waiting = [m for m in pending if m.enrollment_id == enrollment.id and m.step_id in steps]
        if not waiting:
            continue
        after = waiting[-1].due_at
        position = steps[waiting[-1].step_id or 0].position
        version = enrollment.version
        for step in version.steps:
            if step.position <= position or step.key in (enrollment.skip_keys or []):
                continue
            after = due_for(step, version=version, tz=tz, after=after)
            found.append(
                NextEmail(
                    f"{version.sequence.name}, email {step.position}: {step.subject}",
                    after,
                    after.astimezone(tz),
                    planned=False,
                    note="planned when the one before it goes; a booking or an unsubscribe "
                    "ends the sequence first",
                )
            )
    return sorted(found, key=lambda e: e.due_at)


@router.get("/leads/{lead_id}/next", response_class=HTMLResponse)
def lead_next(
    lead_id: RowId, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """What this person gets next, and when, in their own time."""
    site_scope.check_lead(session, staff, lead_id)
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise HTTPException(status_code=404, detail="No such lead (it may have been deleted).")
    return page(
        request,
        "lead_next.html",
        staff,
        title=f"What {lead.first_name or lead.email} gets next",
        lead=lead,
        emails=upcoming(session, lead),
        zone=str(lead_zone(lead)),
    )
