"""A lead import uploaded in the studio runs as a background job with a progress page."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

from sqlalchemy import func, select

from nurture.core import clock
from nurture.jobs import service as jobs
from nurture.jobs.models import Job, JobStatus
from nurture.leads.models import Lead
from nurture.staff.models import AuditEntry
from nurture.tasks import run_job
from tests.studio.conftest import Studio

HEADER = "email,first_name,numbness_type,timezone,consent_at,consent_source\n"
TYPES = ("acute", "chronic", "intermittent", "unsure")


def rows(count: int, *, start: int = 0) -> str:
    return "".join(
        f"p{i}@example.com,Robin,{TYPES[i % 4]},Europe/Berlin,"
        f"{'2026-06-01T10:00:00Z' if i % 2 == 0 else ''},old tool\n"
        for i in range(start, start + count)
    )


def upload(studio: Studio, body: str, name: str = "leads.csv") -> int:
    response = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": (name, body.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/studio/jobs/")
    return int(location.rsplit("/", 1)[1])


_PROBLEM_ROW = re.compile(
    r'<tr><td class="num">(\d*)</td><td[^>]*>(?:<code>([^<]*)</code>|<span[^>]*>[^<]*</span>)?</td>'
    r"<td>(.*?)</td></tr>"
)


def problem_rows(page: str) -> list[tuple[str, str, str]]:
    """The (line, column, problem) rows of a failed import's table of problems."""
    return [
        (line, column, html.unescape(re.sub(r"<[^>]+>", "", message)))
        for line, column, message in _PROBLEM_ROW.findall(page)
    ]


def count_leads(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count(Lead.id))))


def test_upload_queues_a_job_that_a_worker_runs(studio: Studio, session, sequences_loaded) -> None:
    job_id = upload(studio, HEADER + rows(4), name="old-tool.csv")
    # The request only stored the file: nothing is imported until a worker runs the job.
    assert count_leads(session) == 0
    job = session.get(Job, job_id)
    assert (job.kind, job.status, job.filename) == ("leads.import", "queued", "old-tool.csv")
    waiting = studio.get(f"/studio/jobs/{job_id}").text
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "Waiting for a worker" in waiting

    assert run_job(job_id) == JobStatus.SUCCEEDED
    assert count_leads(session) == 4
    done = studio.get(f"/studio/jobs/{job_id}").text
    assert "Imported 4 new leads (2 with consent, 2 started on their sequence)" in done
    assert "http-equiv" not in done  # a finished job stops refreshing
    session.expire_all()
    job = session.get(Job, job_id)
    assert (job.status, job.done, job.total) == ("succeeded", 4, 4)
    assert job.payload is None  # the uploaded addresses are not kept past the job
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "leads.import"))
    assert entry.actor == "editor@clinic.example"
    assert entry.after["created"] == 4
    # Run twice (a duplicate message): the second finds the job done and changes nothing.
    assert run_job(job_id) == "skipped"
    assert count_leads(session) == 4
    assert "old-tool.csv" in studio.get("/studio/leads").text  # listed under recent imports


def test_every_problem_of_every_line_is_kept_and_nothing_imported(studio: Studio, session) -> None:
    bad = "".join(f"bad-{i},R,acute,,,\n" for i in range(1500))
    job_id = upload(studio, HEADER + rows(10) + bad)
    assert run_job(job_id) == JobStatus.FAILED
    assert count_leads(session) == 0
    job = session.get(Job, job_id)
    assert len(job.errors) == 1500
    assert job.errors[0].startswith("line 12: ")
    assert job.errors[-1].startswith("line 1511: ")
    page = studio.get(f"/studio/jobs/{job_id}").text
    assert "Nothing was imported: 1,500 problems on 1,500 lines" in page
    # The file stays in view: its name and how many rows it has.
    assert "File <strong>leads.csv</strong>, 1,510 rows after the header line" in page
    shown = problem_rows(page)
    assert len(shown) == 1000
    assert shown[0][:2] == ("12", "email")
    assert shown[0][2].startswith("not a valid email address")
    assert "1,000 are shown; 500 more are in the full list" in page
    assert f'href="/studio/jobs/{job_id}/problems.txt"' in page
    assert 'action="/studio/leads/import"' in page  # upload the fixed file from here
    listing = studio.get(f"/studio/jobs/{job_id}/problems.txt")
    assert listing.headers["content-disposition"].startswith("attachment")
    assert len(listing.text.splitlines()) == 1500
    assert "line 1511: " in listing.text


def test_the_page_shows_progress_while_the_worker_checks_rows(
    studio: Studio, session, sequences_loaded, monkeypatch
) -> None:
    total = 8_000
    job_id = upload(studio, HEADER + rows(total))
    # The worker stops after the first progress it writes past row 0 and waits for the test,
    # so the page is read mid-way however fast the machine checks rows.
    reached, release = threading.Event(), threading.Event()
    seen: list[tuple[str, int, int]] = []

    def hold(job: int, stage: str, done: int, of: int) -> None:
        seen.append((stage, done, of))
        if job == job_id and stage == "checking" and 0 < done < of and not reached.is_set():
            reached.set()
            assert release.wait(timeout=120), "the test never released the worker"

    monkeypatch.setattr(jobs, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(jobs, "after_progress", hold)
    worker = threading.Thread(target=run_job, args=(job_id,))
    worker.start()
    try:
        assert reached.wait(timeout=120), f"the worker never reported rows checked: {seen}"
        page = studio.get(f"/studio/jobs/{job_id}").text
    finally:
        release.set()
        worker.join()
    assert "Checking rows: 1,000 of 8,000." in page
    assert '<meta http-equiv="refresh"' in page
    assert "Imported 8000 new leads" in studio.get(f"/studio/jobs/{job_id}").text


def test_a_file_without_the_columns_is_refused_at_once_without_a_job(
    studio: Studio, session
) -> None:
    no_type = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": ("old.csv", b"email,first_name\na@example.com,A\n", "text/csv")},
    )
    assert no_type.status_code == 422
    assert problem_rows(no_type.text) == [("1", "", "missing column(s): numbness_type")]
    assert "File <strong>old.csv</strong>, 1 row after the header line" in no_type.text
    utf16 = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": ("leads.csv", HEADER.encode("utf-16"), "text/csv")},
    )
    assert utf16.status_code == 422
    assert "the file is UTF-16 text; save it as UTF-8" in utf16.text
    assert session.scalar(select(func.count(Job.id))) == 0


def test_every_line_is_checked_and_each_problem_named_by_line_and_column(
    studio: Studio, session
) -> None:
    body = (
        HEADER
        + "ok@example.com,Ok,acute,,,\n"
        + "zoë@example.com,Zoë,acute,,,\n"
        + "broken,R,sudden,Mars/Base,soon,\n"
        + "ok@example.com,Again,chronic,,,\n"
        + "c@example.com,C,acute,,,,surplus\n"
    )
    # Line 3 in Latin-1 (not UTF-8); the rest of the file is still checked.
    data = body.encode("utf-8").replace("zoë".encode(), "zoë".encode("latin-1"))
    response = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": ("mixed.csv", data, "text/csv")},
        follow_redirects=False,
    )
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert run_job(job_id) == JobStatus.FAILED
    assert count_leads(session) == 0
    rows_shown = problem_rows(studio.get(f"/studio/jobs/{job_id}").text)
    assert [(line, column) for line, column, _ in rows_shown] == [
        ("3", ""),
        ("4", "email"),
        ("4", "numbness_type"),
        ("4", "timezone"),
        ("4", "consent_at"),
        ("5", "email"),
        ("6", ""),
    ]
    assert rows_shown[0][2].startswith("byte 0xeb at position 3 is not UTF-8 text")
    assert rows_shown[2][2] == "'sudden' is not one of acute, chronic, intermittent, unsure"
    assert rows_shown[5][2] == "ok@example.com already appears on line 2"
    assert rows_shown[6][2] == "1 more cell(s) than the header has columns"


def test_a_job_whose_worker_died_is_sent_again_and_finished(studio: Studio, session) -> None:
    job_id = upload(studio, HEADER + rows(6))
    sent: list[int] = []
    start = clock.now()
    # A worker claims it and dies: nothing imported, the row says running with a lease.
    assert jobs.claim(job_id, now=start) == 1
    assert jobs.sweep(session, now=start + timedelta(seconds=5), dispatch=sent.append) == []
    assert run_job(job_id) == "skipped"  # still leased to the dead worker
    after_lease = start + timedelta(seconds=301)
    assert jobs.sweep(session, now=after_lease, dispatch=sent.append) == [job_id]
    # Once per lease period, not on every tick.
    assert jobs.sweep(session, now=after_lease + timedelta(seconds=1), dispatch=sent.append) == []
    with clock.frozen_at(after_lease):
        assert run_job(job_id) == JobStatus.SUCCEEDED
    assert count_leads(session) == 6
    session.expire_all()
    assert session.get(Job, job_id).attempts == 2


def test_a_job_that_keeps_killing_its_worker_is_given_up(studio: Studio, session) -> None:
    job_id = upload(studio, HEADER + rows(2))
    moment = clock.now()
    for _ in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim(job_id, now=moment) is not None
        moment += timedelta(seconds=301)
    assert jobs.sweep(session, now=moment, dispatch=lambda _: None) == []
    session.expire_all()
    job = session.get(Job, job_id)
    assert job.status == JobStatus.FAILED
    assert "stopped 3 times" in job.errors[0]
    assert "Nothing was imported" in studio.get(f"/studio/jobs/{job_id}").text


def test_a_job_the_broker_never_took_is_sent_by_the_next_sweep(studio: Studio, session) -> None:
    job_id = upload(studio, HEADER + rows(1))
    sent: list[int] = []
    now = clock.now()
    assert jobs.sweep(session, now=now, dispatch=sent.append) == []  # just sent by the upload
    jobs.not_dispatched(session, job_id=job_id)  # as when the broker was away at upload
    session.commit()
    assert jobs.sweep(session, now=now, dispatch=sent.append) == [job_id]
    queued_long_ago = now + timedelta(seconds=301)
    assert jobs.sweep(session, now=queued_long_ago, dispatch=sent.append) == [job_id]
    assert sent == [job_id, job_id]
