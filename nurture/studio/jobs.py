"""The progress page of a background job (a lead import), and its full list of problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from nurture.core import clock
from nurture.core.csvread import Problem
from nurture.http.deps import RowId, SessionDep
from nurture.jobs import service as jobs
from nurture.jobs.models import Job, JobStatus
from nurture.staff.models import StaffUser
from nurture.studio.web import StaffDep, download, page, studio_router

router = studio_router()
# Problems listed on the page itself; the rest are one click away as a text file.
SHOWN_PROBLEMS = 1000
# After this a queued job that no worker took gets a hint on its page.
WAITING_HINT_AFTER = timedelta(seconds=30)
REFRESH_SECONDS = 2


@dataclass(frozen=True, slots=True)
class ProblemReport:
    """An import's problems as a page shows them: the first SHOWN_PROBLEMS, and how many."""

    shown: list[Problem]
    count: int
    lines: int

    @property
    def more(self) -> int:
        """How many problems are only in problems.txt."""
        return self.count - len(self.shown)


def problem_report(problems: list[str]) -> ProblemReport:
    """Take an import's problems apart into line, column and message for a table."""
    read = [Problem.read(p) for p in problems]
    lines = len({p.line for p in read if p.line is not None})
    return ProblemReport(read[:SHOWN_PROBLEMS], len(read), lines)


def _job(session: Session, job_id: int, staff: StaffUser) -> Job:
    job = session.get(Job, job_id)
    if job is None or (jobs.visible_to(staff) is not None and job.created_by != staff.id):
        raise HTTPException(status_code=404, detail="No such job.")
    return job


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: RowId, request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """How far a job got, refreshing itself until it ends, then what it did or every problem."""
    job = _job(session, job_id, staff)
    stalled = job.status == JobStatus.QUEUED and clock.now() - job.created_at > WAITING_HINT_AFTER
    return page(
        request,
        "job.html",
        staff,
        title=f"Import of {job.filename}",
        job=job,
        refresh=0 if job.finished else REFRESH_SECONDS,
        percent=int(100 * job.done / job.total) if job.total else 0,
        report=problem_report(job.errors or []),
        stalled=stalled,
    )


@router.get("/jobs/{job_id}/problems.txt")
def job_problems(job_id: RowId, staff: StaffDep, session: SessionDep) -> Response:
    """Every problem the job found, one per line."""
    job = _job(session, job_id, staff)
    return download(
        "\n".join(job.errors or []) + "\n",
        filename=f"import-{job.id}-problems.txt",
        media_type="text/plain; charset=utf-8",
    )
