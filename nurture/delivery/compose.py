"""Turn an outbox row into a rendered email, or say why it must not be sent now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture import links
from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.config import get_settings
from nurture.delivery.backends import OutgoingEmail
from nurture.delivery.models import Message, MessageStatus, Stream, Suppression
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import Lead, LeadStatus
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.sequences.models import Step


@dataclass(frozen=True, slots=True)
class Hold:
    """The row must not go out now: end it with `status`, or move it to `until`."""

    status: MessageStatus
    reason: str
    until: datetime | None = None


def clinic_context() -> dict[str, Any]:
    """Return the clinic details every template may use."""
    s = get_settings()
    return {
        "clinic": {
            "name": s.clinic_name,
            "address": s.clinic_address,
            "phone": s.clinic_phone,
        },
        "base_url": s.base_url,
    }


def lead_context(lead: Lead, *, content: str) -> dict[str, Any]:
    """Return the variables a marketing template may use for `lead`."""
    return {
        **clinic_context(),
        "first_name": lead.first_name,
        "booking_url": links.booking_url(content=content),
        "unsubscribe_url": links.unsubscribe_url(lead),
        "marketing": True,
    }


def is_suppressed(session: Session, email: str) -> bool:
    """Tell whether an address is on the suppression list."""
    return session.scalar(select(Suppression.id).where(Suppression.email == email)) is not None


def _has_upcoming_visit(session: Session, lead_id: int, now: datetime) -> bool:
    return (
        session.scalar(
            select(Appointment.id).where(
                Appointment.lead_id == lead_id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.starts_at > now,
            )
        )
        is not None
    )


def check(session: Session, message: Message, now: datetime) -> Hold | None:
    """Re-check suppression, lead state, enrollment and step condition at send time."""
    lead = message.lead
    address = message.to_email or (lead.email if lead else None)
    if address is None:
        return Hold(MessageStatus.CANCELLED, "the lead no longer exists")
    if is_suppressed(session, address):
        return Hold(MessageStatus.SUPPRESSED, "address is suppressed")
    if message.template == "confirm":
        if lead is None or lead.status == LeadStatus.ACTIVE:
            return Hold(MessageStatus.SKIPPED, "already confirmed")
        return None
    if message.stream != Stream.MARKETING:
        return None
    if lead is None or lead.status != LeadStatus.ACTIVE:
        return Hold(MessageStatus.CANCELLED, "lead is not subscribed")
    if message.enrollment_id is not None:
        enrollment = session.get(Enrollment, message.enrollment_id)
        if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE:
            return Hold(MessageStatus.CANCELLED, "enrollment has ended")
    if lead.paused_until is not None and lead.paused_until > now:
        return Hold(MessageStatus.PENDING, "lead paused emails", until=lead.paused_until)
    step = session.get(Step, message.step_id) if message.step_id else None
    if step is not None and step.condition == "not_booked":
        if _has_upcoming_visit(session, lead.id, now):
            return Hold(MessageStatus.SKIPPED, "condition not_booked: lead has booked")
    return None


def compose(session: Session, message: Message) -> OutgoingEmail:
    """Render `message` for its recipient with the right sender and headers."""
    s = get_settings()
    lead = message.lead
    renderer = get_renderer()
    address = message.to_email or (lead.email if lead else "")
    custom_args = {"nurture_message_id": str(message.id)}
    if message.step_id is not None and lead is not None:
        step = session.get(Step, message.step_id)
        assert step is not None
        context = lead_context(lead, content=f"step-{step.id}")
        rendered: RenderedEmail = renderer.render_step(
            subject=step.subject,
            preheader=step.preheader,
            body_html=step.body_html,
            body_text=step.body_text,
            context=context,
        )
    else:
        context = {**clinic_context(), "marketing": False, **message.context}
        if lead is not None:
            context["first_name"] = lead.first_name
            if message.template == "confirm":
                context["confirm_url"] = links.confirm_url(lead)
        rendered = renderer.render_named(message.template or "", context)
    headers: dict[str, str] = {}
    if message.stream == Stream.MARKETING and lead is not None:
        unsubscribe = links.unsubscribe_url(lead)
        sender_domain = s.marketing_from_email.rpartition("@")[2]
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:{s.marketing_from_email}"
            f"?subject=unsubscribe-{message.lead_id}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{s.clinic_name} updates <updates.{sender_domain}>",
        }
        return OutgoingEmail(
            to_email=address,
            from_email=s.marketing_from_email,
            from_name=s.marketing_from_name,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            headers=headers,
            custom_args=custom_args,
            categories=("marketing",),
        )
    return OutgoingEmail(
        to_email=address,
        from_email=s.transactional_from_email,
        from_name=s.transactional_from_name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        custom_args=custom_args,
        categories=("transactional",),
    )
