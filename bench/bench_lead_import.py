"""Importing 100,000 leads from CSV: the command's code path and the studio's upload.

Writes a CSV of --rows leads (half with a consent time, so half are enrolled and get their
first email planned), then on a fresh PostgreSQL database, emptied between runs:

1. baseline: the bare minimum an import must write, the same rows inserted into `leads` with
   SQLAlchemy Core executemany in chunks of 5,000, no checks, no consent, no enrollment;
2. command: `nurture.leads.imports.import_csv` (what `nurture leads import FILE.csv` runs):
   every row checked first, then leads, consent records, enrollments and first emails;
3. studio: the same file uploaded to POST /studio/leads/import through the real ASGI app
   (signed-in staff member, CSRF token, multipart body through the size limit), then the job
   it queues run in this process as a worker would.

Prints seconds and rows/s for each and the ratios to the baseline. Target: "100,000 rows well
under a minute" for both the command and the upload.

    /work/venv/bin/python bench/bench_lead_import.py [--rows 100000] [--keep-db]
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

import benchlib

DB = "nurture_bench_import"
TYPES = ("acute", "chronic", "intermittent", "unsure")


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["email", "first_name", "numbness_type", "timezone", "consent_at", "consent_source"]
        )
        for i in range(rows):
            consent = "2026-06-01T10:00:00Z" if i % 2 == 0 else ""
            writer.writerow(
                [
                    f"import-{i}@example.com",
                    "Robin",
                    TYPES[i % 4],
                    "Europe/Berlin",
                    consent,
                    "old tool" if consent else "",
                ]
            )


def empty_tables() -> None:
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            text("TRUNCATE messages, enrollments, consent_records, leads RESTART IDENTITY CASCADE")
        )


def baseline(path: Path) -> float:
    from sqlalchemy import insert

    from nurture.core import clock
    from nurture.core.db import get_engine
    from nurture.leads.models import Lead

    t0 = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [
            {
                "email": r["email"],
                "first_name": r["first_name"],
                "numbness_type": r["numbness_type"],
                "timezone": r["timezone"],
                "status": "active",
                "created_at": clock.now(),
                "token_version": 0,
            }
            for r in csv.DictReader(fh)
        ]
    with get_engine().begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(Lead), rows[i : i + 5000])
    return time.perf_counter() - t0


def command(path: Path) -> float:
    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.leads.imports import import_csv

    t0 = time.perf_counter()
    with session_scope() as session:
        report = import_csv(session, path=path, now=clock.now())
    elapsed = time.perf_counter() - t0
    assert report.created > 0, report
    return elapsed


def studio(path: Path) -> float:
    from fastapi.testclient import TestClient

    from nurture.core import clock
    from nurture.core.db import session_scope
    from nurture.jobs import service as jobs
    from nurture.studio.auth import create_staff
    from nurture.web.app import create_app

    password = "bench password long enough"
    with session_scope() as session:
        create_staff(
            session, email="bench@clinic.example", password=password, role="editor", now=clock.now()
        )
    with TestClient(create_app(), base_url="https://nurture.bench") as client:
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/studio/login").text)
        assert token
        client.post(
            "/studio/login",
            data={
                "csrftoken": token.group(1),
                "email": "bench@clinic.example",
                "password": password,
            },
        )
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/studio/leads").text)
        assert token
        body = path.read_bytes()
        t0 = time.perf_counter()
        response = client.post(
            "/studio/leads/import",
            data={"csrftoken": token.group(1)},
            files={"file": ("leads.csv", body, "text/csv")},
            follow_redirects=False,
        )
        # The upload only queues a job; run it here as a worker would, and time both.
        job_url = response.headers["location"]
        assert jobs.run(int(job_url.rsplit("/", 1)[1])) == "succeeded"
        elapsed = time.perf_counter() - t0
        page = client.get(job_url)
    assert "Imported" in page.text, page.text[:500]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(benchlib.describe_code())
    url = benchlib.create_database(DB)
    data_dir = tempfile.mkdtemp(prefix="nurture-bench-import-")
    try:
        benchlib.configure(database_url=url, data_dir=data_dir)
        benchlib.prepare_schema()
        path = Path(data_dir) / "leads.csv"
        write_csv(path, args.rows)
        print(f"{args.rows} rows, {path.stat().st_size / 1e6:.1f} MB of CSV")
        results = {}
        for name, run in (("baseline", baseline), ("command", command), ("studio", studio)):
            empty_tables()
            benchlib.analyze()
            results[name] = run(path)
            print(f"{name:>9}: {results[name]:6.1f} s  {args.rows / results[name]:8.0f} rows/s")
        for name in ("command", "studio"):
            print(f"{name} / baseline = {results[name] / results['baseline']:.2f}x")
    finally:
        if not args.keep_db:
            benchlib.drop_database(DB)


if __name__ == "__main__":
    main()
