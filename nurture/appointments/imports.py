"""Import visits exported from the clinic's practice software (CSV), all rows or none.

A clinic feeds its export in nightly, so importing the same file again must change nothing and
send nothing. A visit still to come is booked, moved and cancelled through the same service as
the appointments API, so it gets the same emails; a visit that has already started, or whose
outcome is known, is stored as history and tells the patient nothing, except that a new visit
attended or missed in the last NURTURE_JOURNEY_LOOKBACK_DAYS starts that outcome's journeys.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.appointments import outcomes, records, service
from nurture.appointments.models import Appointment, AppointmentStatus
from nurture.appointments.reminders import TEMPLATES
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import csvread, dates
from nurture.core.db import chunked
from nurture.leads.models import Lead
from nurture.leads.schemas import (
    check_language,
    check_timezone,
    clean_first_name,
    normalise_email,
)
from nurture.locations import service as locations
from nurture.outbox.models import Message, MessageStatus

COLUMNS = [
    "external_id",
    "email",
    "first_name",
    "starts_at",
    "timezone",
    "duration_minutes",
    "location",
    "status",
    "phone",
    "sms_consent",
    "language",
]
REQUIRED = ("external_id", "email", "starts_at", "timezone", "status")
STATUSES = tuple(AppointmentStatus)
PROGRESS_EVERY = 10_000
REMINDER_TEMPLATES = frozenset({TEMPLATES["reminder"], TEMPLATES["nudge"]})
# The limits of the appointments API, so a visit imported reads like one booked there.
MAX_EXTERNAL_ID, MAX_LOCATION, MIN_MINUTES, MAX_MINUTES, DEFAULT_MINUTES = 200, 300, 5, 480, 30

# Told (stage, rows done) every PROGRESS_EVERY rows: "checked", then "saved".
Progress = Callable[[str, int], None]


def _silent(stage: str, done: int) -> None:
    """Ignore progress."""


class VisitImportError(csvread.CsvImportError):
    """The file has bad rows; nothing was imported."""


@dataclass(slots=True)
class VisitImportReport:
    """What an import did, row by row, and the emails it planned."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    reminders_planned: int = 0
    notices_planned: int = 0
    # New visits whose recent outcome started its journeys (see outcomes.first_seen).
    journeys_started: int = 0


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    external_id: str
    email: str
    first_name: str
    starts_at: datetime
    timezone: str
    duration_minutes: int
    location: str
    status: str
    phone: str | None = None
    sms_consent: bool = False
    language: str | None = None


def import_csv(
    session: Session, *, path: Path, now: datetime, progress: Progress = _silent
) -> VisitImportReport:
    """Import visits from a CSV file on disk (see import_file)."""
    with path.open("rb") as fh:
        return import_file(session, raw=fh, now=now, progress=progress)


def import_file(
    session: Session, *, raw: Iterable[bytes], now: datetime, progress: Progress = _silent
) -> VisitImportReport:
    """Import visits by external_id: every row is checked first, then all are applied or none.

    Raises VisitImportError naming every problem of every line; a problem found while applying
    (a visit whose outcome is recorded cannot be booked again) rolls the session back. On
    success the caller commits.
    """
    rows = _parse(raw, progress)
    report = VisitImportReport()
    known: dict[str, Appointment] = {}
    for ids in chunked([r.external_id for r in rows]):
        found = session.scalars(select(Appointment).where(Appointment.external_id.in_(ids)))
        known.update({a.external_id: a for a in found if a.external_id})
    leads: dict[str, Lead] = {}
    for emails in chunked(sorted({r.email for r in rows if r.external_id not in known})):
        leads.update({lead.email: lead for lead in _leads(session, emails)})
    last_message = session.scalar(select(func.max(Message.id))) or 0
    problems: list[str] = []
    told: set[int] = set()
    for done, row in enumerate(rows, start=1):
        try:
            _apply(session, row, known.get(row.external_id), leads, now, report, told)
        except service.AppointmentError as exc:
            problems.append(f"line {row.line}: {exc}")
        if done % PROGRESS_EVERY == 0:
            session.flush()
            progress("saved", done)
    if problems:
        session.rollback()
        raise VisitImportError(problems)
    session.flush()
    _count_planned(session, report, told, after=last_message)
    return report


def _leads(session: Session, emails: list[str]) -> Iterable[Lead]:
    return session.scalars(select(Lead).where(Lead.email.in_(emails)))


def _parse(raw: Iterable[bytes], progress: Progress) -> list[_Row]:
    problems: list[str] = []
    reader = csv.DictReader(csvread.utf8_lines(raw, problems))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise VisitImportError([*problems, f"line 1: {csvread.unreadable(exc)}"]) from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise VisitImportError([*problems, f"line 1: missing column(s): {', '.join(missing)}"])
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for count, cells in enumerate(csvread.records(reader, problems), start=1):
        # The line the row ends on: its own line unless a quoted field spans several.
        line = reader.line_num
        if count % PROGRESS_EVERY == 0:
            progress("checked", count)
        errors: list[str] = []
        row = _check(line, cells, errors)
        if row is not None and row.external_id in seen:
            errors.append(
                f"external_id {row.external_id!r} already appears on line {seen[row.external_id]}"
            )
        elif row is not None:
            seen[row.external_id] = line
        problems.extend(f"line {line}: {error}" for error in errors)
        if row is not None and not errors:
            rows.append(row)
    if problems:
        raise VisitImportError(problems)
    return rows


def _check(line: int, cells: dict[str | None, object], errors: list[str]) -> _Row | None:
    """Check every field of one row, adding each problem to `errors`; return the row if none."""
    checked = csvread.check_row(
        cells,
        [
            ("external_id", _external_id),
            ("email", normalise_email),
            ("first_name", clean_first_name),
            ("starts_at", _starts_at),
            ("timezone", check_timezone),
            ("duration_minutes", _minutes),
            ("location", _location),
            ("status", _status),
            ("phone", _phone),
            ("sms_consent", _yes_no),
            ("language", check_language),
        ],
        strip=True,
    )
    errors.extend(
        f"{column}: {message}" if column else message for column, message in checked.errors
    )
    if errors:
        return None
    return _Row(line=line, **checked.values)  # type: ignore[arg-type]


def _phone(text: str) -> str | None:
    if not text:
        return None
    from nurture.core.config import get_settings
    from nurture.core.phones import to_e164

    return to_e164(text, country=get_settings().clinic_country)


def _yes_no(text: str) -> bool:
    value = text.lower()
    if value in ("", "no", "false", "0", "n"):
        return False
    if value in ("yes", "true", "1", "y"):
        return True
    raise ValueError("must be yes or no (the patient agreed to texts about their visits)")


def _external_id(text: str) -> str:
    if not text:
        raise ValueError("is empty; every visit needs the practice software's id")
    if len(text) > MAX_EXTERNAL_ID:
        raise ValueError(f"must be at most {MAX_EXTERNAL_ID} characters")
    return text


def _starts_at(text: str) -> datetime:
    example = "2026-03-27T10:00:00+01:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO-8601 time such as {example}") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; write it like {example}")
    return dates.check_moment(moment)


def _minutes(text: str) -> int:
    if not text:
        return DEFAULT_MINUTES
    try:
        minutes = int(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a whole number of minutes") from exc
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValueError(f"must be between {MIN_MINUTES} and {MAX_MINUTES}")
    return minutes


def _location(text: str) -> str:
    if len(text) > MAX_LOCATION:
        raise ValueError(f"must be at most {MAX_LOCATION} characters")
    locations.place_of_visit(text)
    return text


def _status(text: str) -> str:
    status = text.lower()
    if status not in STATUSES:
        raise ValueError(f"{text!r} is not one of {', '.join(STATUSES)}")
    return status


def _apply(
    session: Session,
    row: _Row,
    visit: Appointment | None,
    leads: dict[str, Lead],
    now: datetime,
    report: VisitImportReport,
    told: set[int],
) -> None:
    """Bring one visit in line with its row; add the visit to `told` if its patient is sent
    anything."""
    upcoming = row.status == AppointmentStatus.BOOKED and row.starts_at > now
    if visit is None:
        if upcoming:
            told.add(service.book(session, data=_booking(row), now=now).appointment.id)
        else:
            visit = _history(session, row, leads, now)
            session.add(visit)
            # Seen first with its outcome: a recent one starts what marking it would start.
            if outcomes.first_seen(session, appointment=visit, now=now):
                report.journeys_started += 1
        report.created += 1
        return
    before = visit.status
    if _same(visit, row):
        report.unchanged += 1
        return
    if upcoming:
        # A new time, place or a re-opened visit: the same re-planning the API does.
        service.book(session, data=_booking(row), now=now)
        told.add(visit.id)
    elif row.status == AppointmentStatus.CANCELLED and _live(visit, now):
        _record(session, visit, row, status=before, now=now)
        service.cancel(session, appointment=visit, now=now)
        told.add(visit.id)
    elif row.status in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW) and (
        before != row.status
    ):
        _record(session, visit, row, status=before, now=now)
        # The outcome as the API records it: reminders end, a no-show may be offered a rebook.
        service.reschedule(
            session, appointment=visit, patch=AppointmentPatch(status=row.status), now=now
        )
    else:
        _record(session, visit, row, status=row.status, now=now)
    if row.status == AppointmentStatus.CANCELLED and before != AppointmentStatus.CANCELLED:
        report.cancelled += 1
    else:
        report.updated += 1


def _live(visit: Appointment, now: datetime) -> bool:
    """Tell whether the patient holds reminders for a visit still to come."""
    return visit.status == AppointmentStatus.BOOKED and visit.starts_at > now


def _same(visit: Appointment, row: _Row) -> bool:
    return (
        visit.starts_at == row.starts_at
        and visit.timezone == row.timezone
        and visit.duration_minutes == row.duration_minutes
        and (visit.location_key, visit.location) == locations.split_place(row.location)
        and visit.status == row.status
    )


def _record(session: Session, visit: Appointment, row: _Row, *, status: str, now: datetime) -> None:
    records.record_history(
        session,
        appointment=visit,
        starts_at=row.starts_at,
        timezone=row.timezone,
        duration_minutes=row.duration_minutes,
        location=row.location,
        status=status,
        now=now,
    )


def _booking(row: _Row) -> AppointmentIn:
    return AppointmentIn(
        email=row.email,
        first_name=row.first_name,
        starts_at=row.starts_at,
        timezone=row.timezone,
        duration_minutes=row.duration_minutes,
        location=row.location,
        external_id=row.external_id,
        phone=row.phone,
        sms_consent=row.sms_consent and row.phone is not None,
        language=row.language,
    )


def _history(session: Session, row: _Row, leads: dict[str, Lead], now: datetime) -> Appointment:
    """Return a new visit that has started or is settled, for which nobody is sent anything."""
    lead = leads[row.email] = service.lead_for_visit(
        session,
        email=row.email,
        first_name=row.first_name,
        timezone=row.timezone,
        now=now,
        known=leads.get(row.email),
        language=row.language,
    )
    return service.new_visit(lead, row, status=row.status, now=now)


def _count_planned(
    session: Session, report: VisitImportReport, told: set[int], *, after: int
) -> None:
    for ids in chunked(sorted(told)):
        planned = session.execute(
            select(Message.template, func.count())
            .where(
                Message.appointment_id.in_(ids),
                Message.id > after,
                Message.status == MessageStatus.PENDING,
            )
            .group_by(Message.template)
        )
        for template, count in planned:
            if template in REMINDER_TEMPLATES:
                report.reminders_planned += count
            else:
                report.notices_planned += count
