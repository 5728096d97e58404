"""Queue, claim, run and sweep background jobs; the database row is the job's only memory.

The broker only carries "run job N now". A job is claimed with one fenced UPDATE (status,
lease, attempt number), reports its progress in short transactions of its own, and ends in the
same transaction as its work, so a worker that dies at any point leaves either nothing or the
whole result. The sweep (run by beat) sends again jobs whose message was lost and jobs whose
worker stopped renewing its lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, undefer
from sqlalchemy.sql.elements import ColumnElement

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.csvread import count_rows
from nurture.core.db import session_factory
from nurture.jobs.models import Job, JobStatus
from nurture.leads import imports
from nurture.staff import audit
from nurture.staff.models import StaffUser

log = logging.getLogger(__name__)

LEADS_IMPORT = "leads.import"
# A job whose worker died this many times is given up rather than run forever.
MAX_ATTEMPTS = 3
# Progress is written at most this often (plus every change of stage).
PROGRESS_EVERY_SECONDS = 0.5
# Called with (job id, stage, done, total) after each progress report has been handled (written
# or skipped); tests hold a job here to look at it mid-way. None in the service.
after_progress: Callable[[int, str, int, int], None] | None = None


class JobLost(Exception):
    """Another worker claimed this job after our lease ran out; our work is rolled back."""


def create(
    session: Session,
    *,
    kind: str,
    payload: bytes,
    filename: str,
    staff_id: int | None,
    now: datetime,
) -> Job:
    """Add a queued job (the caller commits, then dispatches it)."""
    job = Job(
        kind=kind,
        status=JobStatus.QUEUED,
        filename=filename[:255],
        payload=payload,
        created_by=staff_id,
        created_at=now,
        enqueued_at=now,
    )
    session.add(job)
    session.flush()
    return job


def not_dispatched(session: Session, *, job_id: int) -> None:
    """Note that the broker did not take the job, so the next sweep sends it at once."""
    session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED).values(enqueued_at=None)
    )


def recent(
    session: Session, *, kind: str, limit: int = 5, staff: StaffUser | None = None
) -> list[Job]:
    """The latest jobs of a kind, newest first (only those `staff` may see, when given)."""
    query = select(Job).where(Job.kind == kind).order_by(Job.id.desc()).limit(limit)
    if staff is not None and (condition := visible_to(staff)) is not None:
        query = query.where(condition)
    return list(session.scalars(query))


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().claim_lease_seconds)


def claim(job_id: int, *, now: datetime) -> int | None:
    """Take a job for this worker; return the attempt number that fences its writes, or None."""
    with session_factory()() as session:
        attempt = session.scalar(
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    Job.status == JobStatus.QUEUED,
                    (Job.status == JobStatus.RUNNING) & (Job.lease_until < now),
                ),
                Job.attempts < MAX_ATTEMPTS,
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                lease_until=now + _lease(),
                enqueued_at=None,
                stage="",
                done=0,
            )
            .returning(Job.attempts)
        )
        session.commit()
    return attempt


class _Reporter:
    """Write a running job's progress, and renew its lease, in short transactions of its own."""

    def __init__(self, job_id: int, attempt: int, *, concurrent_writes: bool) -> None:
        self.job_id = job_id
        self.attempt = attempt
        # SQLite has one writer: once the import has written, this connection would wait for
        # it; so there only the checking stage (before any write) is reported.
        self.concurrent_writes = concurrent_writes
        self.total = 0
        self.stage = ""
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self._write(stage, done, total)
        if after_progress is not None:
            after_progress(self.job_id, stage, done, self.total if total is None else total)

    def _write(self, stage: str, done: int, total: int | None) -> None:
        if stage != "checking" and not self.concurrent_writes:
            return
        total = self.total if total is None else total
        moment = time.monotonic()
        if stage == self.stage and done < total and moment - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.stage, self.last = stage, moment
        now = clock.now()
        with session_factory()() as session:
            changed = session.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.attempts == self.attempt)
                .values(stage=stage, done=done, total=total, lease_until=now + _lease())
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        if not changed:
            raise JobLost(f"job {self.job_id} was claimed again")


def _end(session: Session, job_id: int, attempt: int, **values: Any) -> bool:
    # Fenced: a worker whose lease ran out and was overtaken changes nothing.
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempts == attempt, Job.status == JobStatus.RUNNING)
        .values(lease_until=None, payload=None, finished_at=clock.now(), **values)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def sites_of(staff: StaffUser | None) -> frozenset[str] | None:
    """Return the sites an account is kept to, or None for every site (admins, most staff)."""
    if staff is None or staff.role == "admin" or staff.location_keys is None:
        return None
    return frozenset(staff.location_keys)


def visible_to(staff: StaffUser) -> ColumnElement[bool] | None:
    """Return the condition on Job for the jobs an account may see, or None for every job.

    An account kept to some sites sees only the imports it started: another account's file
    may hold anyone, at any site.
    """
    return None if sites_of(staff) is None else Job.created_by == staff.id


def _import_leads(session: Session, job: Job, payload: bytes, report: _Reporter) -> dict[str, Any]:
    report.total = count_rows(payload)
    report("checking", 0, report.total)
    # splitlines: a file with old Mac line ends (a bare CR) is read line by line too.
    lines = payload.splitlines(keepends=True)
    staff = session.get(StaffUser, job.created_by) if job.created_by else None
    done = imports.import_bytes(
        session, raw=lines, now=clock.now(), progress=report, sites=sites_of(staff)
    )
    result = {
        "created": done.created,
        "already_known": done.already_known,
        "consented": done.consented,
        "enrolled": done.enrolled,
    }
    audit.record(
        session, staff=staff, action="leads.import", target=job.filename or "upload", after=result
    )
    return result


def run(job_id: int) -> str:
    """Run a job if this worker can claim it; return how it ended, or "skipped"."""
    attempt = claim(job_id, now=clock.now())
    if attempt is None:
        return "skipped"
    session = session_factory()()
    try:
        job = session.get(Job, job_id, options=[undefer(Job.payload)])
        assert job is not None
        payload = job.payload or b""
        session.commit()  # nothing of the import's own transaction starts before the parse
        report = _Reporter(
            job_id, attempt, concurrent_writes=session.get_bind().dialect.name != "sqlite"
        )
        try:
            if job.kind != LEADS_IMPORT:
                raise ValueError(f"unknown job kind {job.kind!r}")
            result = _import_leads(session, job, payload, report)
        except imports.LeadImportError as exc:
            session.rollback()
            ended = _end(session, job_id, attempt, status=JobStatus.FAILED, errors=exc.problems)
            session.commit()
            return JobStatus.FAILED if ended else "skipped"
        except JobLost:
            session.rollback()
            log.warning("job %d: claimed by another worker; this run rolled back", job_id)
            return "skipped"
        if not _end(
            session,
            job_id,
            attempt,
            status=JobStatus.SUCCEEDED,
            result=result,
            stage="",
            done=report.total,
            total=report.total,
        ):
            session.rollback()
            log.warning("job %d: lease lost before the end; this run rolled back", job_id)
            return "skipped"
        session.commit()
        return JobStatus.SUCCEEDED
    except Exception:
        session.rollback()
        log.exception("job %d failed unexpectedly", job_id)
        _end(
            session,
            job_id,
            attempt,
            status=JobStatus.FAILED,
            errors=[
                "The import stopped on an unexpected error; nothing was imported. "
                "The worker's log has the details."
            ],
        )
        session.commit()
        return JobStatus.FAILED
    finally:
        session.close()


def sweep(session: Session, *, now: datetime, dispatch: Callable[[int], None]) -> list[int]:
    """Send again jobs no worker has taken, or whose worker died; give up after MAX_ATTEMPTS.

    Returns the ids dispatched. A job is sent at most once per lease period, so a worker that
    is merely busy collects no flood of duplicate messages (each would be a no-op anyway).
    """
    lease = _lease()
    resend = or_(Job.enqueued_at.is_(None), Job.enqueued_at <= now - lease)
    expired = (Job.status == JobStatus.RUNNING) & (Job.lease_until < now)
    given_up = session.execute(
        update(Job)
        .where(expired, Job.attempts >= MAX_ATTEMPTS)
        .values(
            status=JobStatus.FAILED,
            lease_until=None,
            payload=None,
            finished_at=now,
            errors=[
                f"The worker stopped {MAX_ATTEMPTS} times while running this job; nothing was "
                "imported. Check the worker's log (memory, time limits) and upload again."
            ],
        )
    ).rowcount  # type: ignore[attr-defined]
    if given_up:
        log.warning("gave up %d job(s) whose worker kept dying", given_up)
    ids = list(
        session.scalars(select(Job.id).where(or_(Job.status == JobStatus.QUEUED, expired), resend))
    )
    if ids:
        session.execute(update(Job).where(Job.id.in_(ids)).values(enqueued_at=now))
    session.commit()
    for job_id in ids:
        dispatch(job_id)
    return ids
