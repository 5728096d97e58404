"""What a template may read: about a lead, a visit and the clinic, and nothing more.

The delivery engine renders with these; the checks and previews of a sequence use the same
ones, so a template that passes its checks reads exactly what it is sent with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.clinic import service as clinic
from nurture.core.config import get_settings
from nurture.leads.models import Lead
from nurture.locations import service as locations
from nurture.messages import links


def appointment_context(appointment: Appointment) -> dict[str, Any]:
    """Return what an appointment email may say: when, where, how to change it. Nothing more."""
    site = locations.site(appointment.location_key)
    return {
        "location": site.context(),
        "visit": {
            # Templates show it with `visit.starts_at|visit_time(visit.timezone)`: the one
            # formatter (nurture.rendering.dates), in the clinic's locale and the visit's zone.
            "starts_at": appointment.starts_at,
            "timezone": appointment.timezone,
            "address": appointment.location or site.address,
            # A place described in words (one-site installs) gets a map of those words.
            "map_url": locations.map_link(appointment.location)
            if appointment.location
            else site.map_url,
            "duration_minutes": appointment.duration_minutes,
        },
        "manage_url": links.visit_url(appointment.id),
        "confirm_url": links.attend_url(
            appointment.id, revision=appointment.revision, answer="confirm"
        ),
        "change_url": links.attend_url(
            appointment.id, revision=appointment.revision, answer="change"
        ),
        "booking_url": site.booking_url,
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
        "location": locations.default().context(),
        "base_url": get_settings().resolved_base_url,
    }


class _Ask:
    """`lead_context` looks the lead's last visited site up itself (one query)."""


ASK = _Ask()


def lead_context(lead: Lead, *, content: str, visited: str | None | _Ask = ASK) -> dict[str, Any]:
    """Return the variables a marketing template may use for `lead`.

    Their site (chosen, or that of their latest visit) gives the booking page and phone; a
    review request goes to the page of the site they last visited (`visited`, when the caller
    has read it for a whole batch already).
    """
    site = locations.site(lead.location_key)
    if isinstance(visited, _Ask):
        visited = visited_site(lead)
    return {
        **clinic_context(),
        "location": site.context(),
        "first_name": lead.first_name,
        "booking_url": links.booking_url(content=content, base=site.booking_url),
        "review_url": locations.site(visited or lead.location_key).review_url,
        "unsubscribe_url": links.unsubscribe_url(lead),
        "preferences_url": links.preferences_url(lead),
        "marketing": True,
    }


def visited_site(lead: Lead) -> str | None:
    """Return the site of the lead's latest attended visit, or None."""
    session = object_session(lead)
    if session is None or lead.id is None:
        return None
    return session.scalar(
        select(Appointment.location_key)
        .where(Appointment.lead_id == lead.id, Appointment.status == AppointmentStatus.ATTENDED)
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    )
