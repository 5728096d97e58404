"""The suppression list: import from CSV, sync from SendGrid, add by hand."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nurture.core.config import Settings
from nurture.enrollments import service as enrollments
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.schemas import normalise_email
from nurture.outbox.models import Suppression

REASONS = frozenset({"bounce", "complaint", "unsubscribe", "invalid", "staff", "everything"})
# SendGrid's suppression lists and the reason each stands for.
SENDGRID_LISTS = {"bounces": "bounce", "spam_reports": "complaint", "unsubscribes": "unsubscribe"}
PAGE = 500


class ImportError_(ValueError):  # noqa: N801 - not the builtin ImportError
    """A suppression file has bad rows; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True)
class ImportResult:
    """How many addresses were new and how many were already suppressed."""

    added: int = 0
    already: int = 0
    by_list: dict[str, int] = field(default_factory=dict)


def suppress(session: Session, *, email: str, reason: str, source: str, now: datetime) -> bool:
    """Add an address to the suppression list and end its marketing; False if already there."""
    address = email.strip().lower()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = session.execute(
        insert(Suppression)
        .values(email=address, reason=reason, source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Suppression.id)
    ).first()
    lead = session.scalar(select(Lead).where(Lead.email == address))
    if lead is not None:
        if reason in ("unsubscribe", "complaint") and lead.status == LeadStatus.ACTIVE:
            lead.status = LeadStatus.UNSUBSCRIBED
            lead.unsubscribed_at = now
        enrollments.exit_active(session, lead_id=lead.id, reason=reason, at=now)
    return added is not None


def reason_for(session: Session, *, email: str) -> str | None:
    """Return why `email` is on the suppression list (bounce, complaint...), or None."""
    address = email.strip().lower()
    return session.scalar(select(Suppression.reason).where(Suppression.email == address))


def import_csv(session: Session, *, path: Path, now: datetime) -> ImportResult:
    """Suppress every address in a CSV with an `email` column (and optional `reason`).

    Every row is checked first; one bad row means nothing is imported.
    """
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            raise ImportError_(["line 1: the header must include an 'email' column"])
        for line, row in enumerate(reader, start=2):
            reason = (row.get("reason") or "staff").strip().lower()
            try:
                address = normalise_email(row.get("email") or "")
            except ValueError as exc:
                problems.append(f"line {line}: {exc}")
                continue
            if reason not in REASONS:
                problems.append(f"line {line}: reason must be one of {', '.join(sorted(REASONS))}")
                continue
            rows.append((address, reason))
    if problems:
        raise ImportError_(problems)
    result = ImportResult()
    for address, reason in rows:
        if suppress(session, email=address, reason=reason, source="import", now=now):
            result.added += 1
        else:
            result.already += 1
    return result


def sync_from_sendgrid(session: Session, *, settings: Settings, now: datetime) -> ImportResult:
    """Copy SendGrid's bounce, spam report and global unsubscribe lists into ours."""
    from python_http_client import exceptions as http_errors
    from sendgrid import SendGridAPIClient

    if settings.sendgrid_api_key is None:
        raise ValueError("NURTURE_SENDGRID_API_KEY is not set")
    client = SendGridAPIClient(
        api_key=settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_api_host
    )
    result = ImportResult()
    for name, reason in SENDGRID_LISTS.items():
        endpoint = getattr(client.client.suppression, name)
        offset = 0
        count = 0
        while True:
            try:
                response = endpoint.get(query_params={"limit": PAGE, "offset": offset})
            except http_errors.HTTPError as exc:
                raise ValueError(f"SendGrid refused the {name} list: {exc.status_code}") from exc
            entries: list[dict[str, Any]] = response.to_dict or []
            for entry in entries:
                try:
                    address = normalise_email(str(entry.get("email", "")))
                except ValueError:
                    continue
                added = suppress(
                    session, email=address, reason=reason, source="sendgrid-sync", now=now
                )
                result.added += int(added)
                result.already += int(not added)
                count += 1
            if len(entries) < PAGE:
                break
            offset += PAGE
        result.by_list[name] = count
    return result
