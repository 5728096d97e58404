"""Absolute URLs placed in emails; each carries only an opaque signed token."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from nurture.clinic.service import effective
from nurture.core.config import get_settings
from nurture.core.tokens import make_compact_token, make_token
from nurture.leads.models import Lead


def absolute(path: str) -> str:
    """Join `path` onto the public base URL."""
    return f"{get_settings().resolved_base_url}{path}"


def confirm_url(lead: Lead) -> str:
    """Return the double opt-in link for `lead`."""
    # Compact: the confirmation email shows this link for copying when its button fails.
    return absolute(f"/confirm/{make_compact_token('confirm', (lead.id, lead.token_version))}")


def unsubscribe_url(lead: Lead) -> str:
    """Return the unsubscribe link (also the RFC 8058 one-click POST target)."""
    token = make_token("unsubscribe", {"lead": lead.id})
    return absolute(f"/unsubscribe/{token}")


def preferences_url(lead: Lead) -> str:
    """Return the signed link to the lead's email preferences."""
    return absolute(f"/preferences/{make_token('preferences', {'lead': lead.id})}")


def booking_url(*, content: str, base: str | None = None) -> str:
    """Return a booking page (`base`, else the clinic's) with parameters that name no condition."""
    parts = urlsplit(base or effective().booking_url)
    params = {"utm_source": "nurture", "utm_medium": "email", "utm_campaign": "nurture"}
    params["utm_content"] = content
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))


def visit_url(appointment_id: int) -> str:
    """Return the page where a patient sees their visit and how to move or cancel it."""
    return absolute(f"/visit/{make_token('visit', {'appointment': appointment_id})}")


# Purpose of the signed "I'll be there" / "I need to change it" links in reminders.
ATTEND_PURPOSE = "attend"
ATTEND_ANSWERS = ("confirm", "change")


def attend_url(appointment_id: int, *, revision: int, answer: str) -> str:
    """Return a one-click link that answers "will you come?" for this time of the visit."""
    payload = {"appointment": appointment_id, "r": revision, "answer": answer}
    return absolute(f"/attend/{make_token(ATTEND_PURPOSE, payload)}")
