"""Import leads from another tool (CSV) and export them, all rows or none."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from nurture.core import csvread, csvsafe, dates, languages
from nurture.core.config import get_settings
from nurture.core.csvread import CsvImportError, problem, records, unreadable, utf8_lines
from nurture.core.db import chunked
from nurture.enrollments import service as enrollments
from nurture.enrollments import variants
from nurture.enrollments.models import Enrollment
from nurture.leads.models import (
    ConsentRecord,
    Lead,
    LeadStatus,
    NumbnessType,
    TypeChange,
    TypeSource,
)
from nurture.leads.schemas import (
    check_language,
    check_timezone,
    clean_first_name,
    normalise_email,
)
from nurture.locations import service as locations
from nurture.outbox.models import Stream
from nurture.sequences import service as sequences

# `language` is optional (the clinic's default when empty), as are all but REQUIRED.
COLUMNS = [
    "email",
    "first_name",
    "numbness_type",
    "timezone",
    "consent_at",
    "consent_source",
    "language",
]
IMPORTED_CONSENT_TEXT = "Consent recorded by the previous tool and imported."
REQUIRED = ("email", "numbness_type")
TYPES = frozenset(NumbnessType)

# Told (stage, rows done, rows in the stage or None when this code cannot know) as an import
# goes: "checking" every row, then "saving" new leads, then "enrolling" those with consent.
Progress = Callable[[str, int, int | None], None]


def _silent(stage: str, done: int, total: int | None) -> None:
    """Ignore progress (the command line and tests)."""


class LeadImportError(CsvImportError):
    """The file has bad rows; nothing was imported."""


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    created: int = 0
    already_known: int = 0
    consented: int = 0
    enrolled: int = 0


@dataclass(frozen=True, slots=True)
class _Row:
    email: str
    first_name: str
    numbness_type: str
    timezone: str | None
    consent_at: datetime | None
    consent_source: str
    language: str | None = None
    location: str | None = None


def check_header(text: str) -> None:
    """Refuse a file whose first line lacks a required column, before any row is read."""
    try:
        header = next(csv.reader(text.splitlines()[:1]), [])
    except csv.Error as exc:
        raise LeadImportError([problem(1, unreadable(exc))]) from exc
    _check_columns(header, [])


def check_first_line(data: bytes) -> None:
    """Refuse a file whose first line is not UTF-8 CSV text naming the required columns."""
    problems: list[str] = []
    first = "".join(utf8_lines(data.splitlines(keepends=True)[:1], problems))
    if problems:
        raise LeadImportError(problems)
    check_header(first)


def _check_columns(header: list[str], problems: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise LeadImportError([*problems, problem(1, f"missing column(s): {', '.join(missing)}")])


def _parse(
    lines: Iterable[str],
    progress: Progress = _silent,
    problems: list[str] | None = None,
    sites: frozenset[str] | None = None,
) -> list[_Row]:
    """Check every row, collecting every problem of every line; return the rows if none.

    `problems` may already hold what reading the lines found (bytes that are not UTF-8).
    `sites`: the only locations the importing account may add people to (None: any).
    """
    problems = [] if problems is None else problems
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise LeadImportError([*problems, problem(1, unreadable(exc))]) from exc
    _check_columns(list(header), problems)
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for count, cells in enumerate(records(reader, problems), start=1):
        # The line the row ends on: its own line unless a quoted field spans several.
        line = reader.line_num
        if count % 1000 == 0:
            progress("checking", count, None)
        errors: list[tuple[str, str]] = []
        row = _check(cells, errors, sites)
        if row is not None and row.email in seen:
            errors.append(("email", f"{row.email} already appears on line {seen[row.email]}"))
        elif row is not None:
            seen[row.email] = line
        problems.extend(problem(line, message, column) for column, message in errors)
        if row is not None and not errors:
            rows.append(row)
    if problems:
        raise LeadImportError(problems)
    return rows


def _location(text: str, sites: frozenset[str] | None) -> str | None:
    """Return the site key a row's `location` names, held to the account's `sites`.

    Empty: no preference, unless the account is kept to sites; then its one site, and an
    account with several must say which. A one-site install ignores the column (free text).
    """
    if not text.strip():
        if sites is None:
            return None
        if len(sites) == 1:
            return next(iter(sites))
        raise ValueError(f"say which of your locations this person belongs to: {_words(sites)}")
    if sites is None and not locations.several():
        return None
    found = locations.match(text)
    if found is None:
        keys = locations.keys() if sites is None else sorted(sites)
        raise ValueError(f"no location is called {text.strip()!r}; use one of: {', '.join(keys)}")
    if sites is not None and found.key not in sites:
        raise ValueError(f"{found.name} is not one of your locations ({_words(sites)})")
    return found.key


def _words(sites: frozenset[str]) -> str:
    return ", ".join(sorted(sites))


def _check(
    cells: dict[str | None, object],
    errors: list[tuple[str, str]],
    sites: frozenset[str] | None = None,
) -> _Row | None:
    """Check every field of one row, adding (column, problem) to `errors`; return the row."""
    checked = csvread.check_row(
        cells,
        [
            ("email", normalise_email),
            ("first_name", clean_first_name),
            ("numbness_type", _numbness_type),
            ("timezone", _timezone),
            ("consent_at", _when),
            ("language", check_language),
            ("location", lambda text: _location(text, sites)),
        ],
    )
    errors.extend(checked.errors)
    if errors:
        return None
    source = (checked.raw.get("consent_source") or "import").strip()[:500]
    return _Row(consent_source=source, **checked.values)  # type: ignore[arg-type]


def _numbness_type(text: str) -> str:
    kind = text.strip().lower()
    if kind not in TYPES:
        shown = f"{text.strip()!r}" if text.strip() else "empty"
        raise ValueError(f"{shown} is not one of {', '.join(sorted(TYPES))}")
    return kind


def _timezone(text: str) -> str | None:
    zone = text.strip() or None
    if zone:
        check_timezone(zone)
    return zone


def _when(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a date and time such as 2026-03-01 09:30 (UTC) "
            "or 2026-03-01 09:30+01:00"
        ) from exc
    return dates.check_moment(moment, naive_zone=UTC)


def import_csv(
    session: Session, *, path: Path, now: datetime, progress: Progress = _silent
) -> ImportReport:
    """Import leads from a CSV file on disk (see import_file)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return import_file(session, fh=fh, now=now, progress=progress)


def import_bytes(
    session: Session,
    *,
    raw: Iterable[bytes],
    now: datetime,
    progress: Progress = _silent,
    sites: frozenset[str] | None = None,
) -> ImportReport:
    """Import leads from the lines of an uploaded file; a line not in UTF-8 is one more problem.

    `sites`: the locations the importing account is kept to (None: any); see `_location`.
    """
    problems: list[str] = []
    rows = _parse(utf8_lines(raw, problems), progress, problems, sites)
    return _save(session, rows, now, progress)


def import_file(
    session: Session, *, fh: TextIO, now: datetime, progress: Progress = _silent
) -> ImportReport:
    """Import leads; consented rows become active and are enrolled, others never get marketing.

    Every row is checked before anything is written, and LeadImportError names every problem
    of every line; addresses already known are left as they are. The whole import is one
    transaction, which the caller commits.
    """
    return _save(session, _parse(fh, progress), now, progress)


def _save(session: Session, rows: list[_Row], now: datetime, progress: Progress) -> ImportReport:
    report = ImportReport()
    known: set[str] = set()
    for addresses in chunked([r.email for r in rows]):
        known |= set(session.scalars(select(Lead.email).where(Lead.email.in_(addresses))))
    fresh = [r for r in rows if r.email not in known]
    report.already_known = len(rows) - len(fresh)
    ids: dict[str, int] = {}
    progress("saving", 0, len(fresh))
    for chunk in chunked(fresh):
        _insert_many(
            session,
            Lead,
            [
                {
                    "email": r.email,
                    "first_name": r.first_name,
                    "numbness_type": r.numbness_type,
                    "timezone": r.timezone,
                    "language": r.language or languages.default(),
                    "status": LeadStatus.ACTIVE if r.consent_at else LeadStatus.NO_CONSENT,
                    "created_at": now,
                    "confirmed_at": r.consent_at,
                    "token_version": 0,
                    "location_key": r.location,
                }
                for r in chunk
            ],
        )
        found = session.execute(
            select(Lead.email, Lead.id).where(Lead.email.in_([r.email for r in chunk]))
        )
        ids.update(dict(found.all()))
        _insert_many(
            session,
            TypeChange,
            [
                {
                    "lead_id": ids[r.email],
                    "to_type": r.numbness_type,
                    "source": TypeSource.IMPORT,
                    "changed_at": now,
                }
                for r in chunk
            ],
        )
        progress("saving", len(ids), len(fresh))
    report.created = len(fresh)
    consented = [r for r in fresh if r.consent_at]
    report.consented = len(consented)
    for chunk in chunked(consented):
        _insert_many(
            session,
            ConsentRecord,
            [
                {
                    "lead_id": ids[r.email],
                    "purpose": "marketing_email",
                    "text_version": "imported",
                    "text": IMPORTED_CONSENT_TEXT,
                    "source": r.consent_source,
                    "given_at": r.consent_at,
                    "confirmed_at": r.consent_at,
                }
                for r in chunk
            ],
        )
    report.enrolled = _enroll(session, consented, ids, now, progress)
    return report


def _enroll(
    session: Session, rows: list[_Row], ids: dict[str, int], now: datetime, progress: Progress
) -> int:
    targets = {}
    for kind in {r.numbness_type for r in rows}:
        sequence = sequences.sequence_for_audience(session, kind)
        version = sequences.live_version(session, sequence.id) if sequence else None
        if sequence is not None and version is not None and version.steps:
            targets[kind] = (sequence, version, version.steps[0])
    clinic_zone = get_settings().clinic_timezone
    enrolled = 0
    enrollable = [r for r in rows if r.numbness_type in targets]
    for chunk in chunked(enrollable):
        _insert_many(
            session,
            Enrollment,
            [
                {
                    "lead_id": ids[r.email],
                    "sequence_id": targets[r.numbness_type][0].id,
                    "version_id": targets[r.numbness_type][1].id,
                    "status": "active",
                    "last_position": 0,
                    "enrolled_at": now,
                }
                for r in chunk
            ],
        )
        found = session.execute(
            select(Enrollment.lead_id, Enrollment.id).where(
                Enrollment.lead_id.in_([ids[r.email] for r in chunk]),
                Enrollment.status == "active",
            )
        )
        by_lead = dict(found.all())
        plans = []
        for r in chunk:
            _, version, step = targets[r.numbness_type]
            lead_id = ids[r.email]
            tz = ZoneInfo(r.timezone or clinic_zone)
            plans.append(
                {
                    "key": enrollments.step_key(by_lead[lead_id], step.id),
                    "stream": Stream.MARKETING,
                    "due_at": enrollments.due_for(step, version=version, tz=tz, after=now),
                    "lead_id": lead_id,
                    "enrollment_id": by_lead[lead_id],
                    "step_id": step.id,
                    "created_at": now,
                }
            )
        variants.plan_many(session, plans)
        enrolled += len(chunk)
        progress("enrolling", enrolled, len(enrollable))
    return enrolled


def _insert_many(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    # Core executemany: batched multi-row INSERTs from one compiled statement, far cheaper
    # than compiling a fresh VALUES list per chunk or the ORM's per-row path.
    session.connection().execute(insert(model.__table__), rows)


def export_csv(session: Session, fh: TextIO, *, only: Select[Any] | None = None) -> int:
    """Write every lead (or those whose ids `only` selects) with the import columns, their
    location and status; return how many. The file imports back as it is."""
    writer = csvsafe.writer(fh)
    writer.writerow([*COLUMNS, "location", "status"])
    count = 0
    consent = (
        select(ConsentRecord.lead_id, ConsentRecord.confirmed_at, ConsentRecord.source)
        .where(ConsentRecord.confirmed_at.is_not(None))
        .order_by(ConsentRecord.lead_id, ConsentRecord.confirmed_at.desc())
    )
    leads = select(Lead).order_by(Lead.id)
    if only is not None:
        consent = consent.where(ConsentRecord.lead_id.in_(only))
        leads = leads.where(Lead.id.in_(only))
    latest: dict[int, tuple[datetime | None, str]] = {}
    for lead_id, confirmed_at, source in session.execute(consent):
        if lead_id is not None:
            latest.setdefault(lead_id, (confirmed_at, source))
    for lead in session.scalars(leads.execution_options(yield_per=5000)):
        when, source = latest.get(lead.id, (None, ""))
        writer.writerow(
            [
                lead.email,
                lead.first_name,
                lead.numbness_type,
                lead.timezone or "",
                when.isoformat() if when else "",
                source,
                lead.language,
                lead.location_key or "",
                lead.status,
            ]
        )
        count += 1
    return count
