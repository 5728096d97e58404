"""What a template may read: about a lead, a visit and the clinic, and nothing more.

The delivery engine renders with these; the checks and previews of a sequence use the same
ones, so a template that passes its checks reads exactly what it is sent with.
"""

from __future__ import annotations

from typing import Any

from nurture.appointments.models import Appointment
from nurture.clinic import service as clinic
from nurture.core.config import get_settings
from nurture.leads.models import Lead
from nurture.messages import links


def appointment_context(appointment: Appointment) -> dict[str, Any]:
    """Return what an appointment email may say: when, where, how to change it. Nothing more."""
    c = clinic.effective()
    return {
        "visit": {
            # Templates show it with `visit.starts_at|visit_time(visit.timezone)`: the one
            # formatter (nurture.rendering.dates), in the clinic's locale and the visit's zone.
            "starts_at": appointment.starts_at,
            "timezone": appointment.timezone,
            "address": appointment.location or c.clinic_address,
            "duration_minutes": appointment.duration_minutes,
        },
        "manage_url": links.visit_url(appointment.id),
        "confirm_url": links.attend_url(
            appointment.id, revision=appointment.revision, answer="confirm"
        ),
        "change_url": links.attend_url(
            appointment.id, revision=appointment.revision, answer="change"
        ),
        "booking_url": c.booking_url,
    }


def clinic_context() -> dict[str, Any]:
    """Return the clinic details every template may use."""
    c = clinic.effective()
    return {
        "clinic": {
            "name": c.clinic_name,
            "address": c.clinic_address,
            "phone": c.clinic_phone,
            "phone_link": c.phone_link,
            "clinician": c.clinician,
            "opening_hours": c.opening_hours,
            "review_url": c.review_url,
            "accent_color": c.accent_color,
            "logo_url": c.clinic_logo_url,
        },
        "base_url": get_settings().resolved_base_url,
    }


def lead_context(lead: Lead, *, content: str) -> dict[str, Any]:
    """Return the variables a marketing template may use for `lead`."""
    return {
        **clinic_context(),
        "first_name": lead.first_name,
        "booking_url": links.booking_url(content=content),
        "review_url": clinic.effective().review_url,
        "unsubscribe_url": links.unsubscribe_url(lead),
        "preferences_url": links.preferences_url(lead),
        "marketing": True,
    }
