"""Small builders for test data."""

from __future__ import annotations

import email
import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.orm import Session

from nurture.leads.models import Lead, LeadStatus


def make_lead(
    session: Session,
    *,
    email_address: str = "lead@example.com",
    numbness_type: str = "chronic",
    status: str = LeadStatus.ACTIVE,
    timezone: str | None = "Europe/Berlin",
    first_name: str = "Robin",
    created_at: datetime | None = None,
    language: str = "en",
) -> Lead:
    """Insert a lead and return it."""
    lead = Lead(
        email=email_address,
        first_name=first_name,
        numbness_type=numbness_type,
        timezone=timezone,
        status=status,
        language=language,
    )
    if created_at is not None:
        lead.created_at = created_at
    session.add(lead)
    session.flush()
    return lead


def outbox_messages(folder: Path) -> list[EmailMessage]:
    """Parse every .eml in the outbox folder, oldest first."""
    messages = []
    for path in sorted(folder.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def text_part(message: EmailMessage) -> str:
    """Return the plain-text body of a parsed email."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(text: str, path: str) -> str:
    """Return the first absolute URL in `text` whose path starts with `path`."""
    match = re.search(rf"https?://[^\s<>\"]+{re.escape(path)}[^\s<>\"]+", text)
    assert match, f"no {path} link in: {text[:500]}"
    return match.group(0)
