"""Every `nurture` command runs as its own process on a fresh data folder.

The rest of the suite imports the whole package into one process, so a command that forgets to
load something (a model another table points at, a setting) passes there and crashes in the
field. Here each command starts from `python -m nurture` as an operator would run it. The
commands are read from the click tree: a new command without a case below fails the suite.

A command that needs the database gets a copy of the suite's migrated SQLite file (cheaper than
migrating again), or, under PostgreSQL, the suite's own database; the rest get an empty folder.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from nurture.appointments.models import Appointment
from nurture.cli import main
from nurture.core.config import get_settings
from nurture.outbox.models import Message
from tests.processes import free_port, stop, wait_for
from tests.sendgrid_server import SendGridServer

VISIT_HEADER = "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every runnable command of the tree, as the words an operator types."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


@dataclass
class Run:
    """A command's folder, environment, port and what it printed."""

    folder: Path
    env: dict[str, str]
    port: int
    stack: ExitStack
    output: str = ""
    code: int | None = None


@dataclass(frozen=True)
class Case:
    """How to run one command with valid minimal arguments, and what it must answer."""

    args: Callable[[Run], list[str]]
    code: int = 0
    expect: str = ""
    database: bool = True
    stdin: str | None = None
    # Long-running programs: what shows they are up (they are then stopped with SIGTERM).
    ready: Callable[[Run], bool] | None = None
    before: Callable[[Run], None] | None = None
    after: Callable[[Run], None] | None = None
    needs: tuple[str, ...] = field(default=())


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _upcoming_visit(run: Run) -> list[str]:
    start = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0).isoformat()
    body = f"{VISIT_HEADER}pms-1,ann@example.com,Ann,{start},Europe/Berlin,30,Room 2,booked\n"
    return ["visits", "import", _write(run.folder / "visits.csv", body)]


def _visit_booked(run: Run) -> None:
    # The command's own database (a copy, or PostgreSQL's) holds the visit and its reminders.
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(_database_url(run))
    try:
        with Session(engine) as session:
            [visit] = session.scalars(select(Appointment)).all()
            assert (visit.external_id, visit.status) == ("pms-1", "booked")
            assert session.scalars(select(Message).where(Message.appointment_id == visit.id)).all()
    finally:
        engine.dispose()


def _http_up(run: Run) -> bool:
    return httpx.get(f"http://127.0.0.1:{run.port}/healthz", timeout=5).status_code in (200, 503)


def _printed(text: str) -> Callable[[Run], bool]:
    return lambda run: text in (run.folder / "output.log").read_text(errors="replace")


def _token_made(run: Run) -> None:
    made = _run(run, ["tokens", "create", "booking-system"])
    assert made.returncode == 0, made.stdout


SOUTH = [
    "locations",
    "add",
    "south",
    "--name",
    "South Clinic",
    "--address",
    "2 South Road, Springfield",
    "--phone",
    "+1 212 555 0188",
    "--timezone",
    "America/Chicago",
    "--booking-url",
    "https://book.example.com/south",
]


def _south_added(run: Run) -> None:
    made = _run(run, SOUTH)
    assert made.returncode == 0, made.stdout


def _sendgrid_env(run: Run) -> None:
    server = run.stack.enter_context(SendGridServer())
    server.state.suppression_lists["bounces"].append(
        {"created": 1700000000, "email": "bounced@example.com", "reason": "550 no such user"}
    )
    run.env.update(
        NURTURE_EMAIL_BACKEND="sendgrid",
        NURTURE_SENDGRID_API_KEY=server.state.api_key,
        NURTURE_SENDGRID_API_HOST=server.url,
    )


CASES: dict[tuple[str, ...], Case] = {
    ("beat",): Case(lambda r: ["beat"], ready=_printed("beat: Starting")),
    ("worker",): Case(lambda r: ["worker", "--concurrency", "1"], ready=_printed(" ready.")),
    # Flower needs worker events, which only a Redis broker carries: elsewhere it says so.
    ("flower",): (
        Case(lambda r: ["flower", "--port", str(r.port)], ready=_printed("Visit me at"))
        if os.environ.get("NURTURE_BROKER_URL", "").startswith("redis")
        else Case(
            lambda r: ["flower", "--port", str(r.port)], code=1, expect="Set NURTURE_BROKER_URL"
        )
    ),
    # Uvicorn shuts down cleanly on SIGTERM, then ends by that signal as a shell expects.
    ("web",): Case(
        lambda r: ["web", "--port", str(r.port)],
        ready=_http_up,
        code=-signal.SIGTERM,
        expect="Finished server process",
    ),
    ("up",): Case(lambda r: ["up", "--port", str(r.port)], database=False, ready=_http_up),
    ("setup",): Case(lambda r: ["setup"], database=False, expect="Loading default sequences"),
    # Health checks of a machine where nothing runs: each says why, with exit code 1.
    ("healthcheck", "web"): Case(
        lambda r: ["healthcheck", "web", "--url", f"http://127.0.0.1:{r.port}/healthz"],
        code=1,
        expect="does not answer",
        database=False,
    ),
    ("healthcheck", "worker"): Case(
        lambda r: ["healthcheck", "worker", "--timeout", "1"], code=1, expect="Error: "
    ),
    ("healthcheck", "beat"): Case(
        lambda r: ["healthcheck", "beat"], code=1, expect="the last tick ran never"
    ),
    ("db", "upgrade"): Case(lambda r: ["db", "upgrade"], database=False, expect="up to date"),
    ("doctor",): Case(lambda r: ["doctor"], code=1, expect="before going live"),
    ("preview",): Case(
        lambda r: [
            "preview",
            "--out",
            str(r.folder / "gallery"),
            "--no-screenshots",
            "--only",
            "welcome",
        ],
        database=False,
    ),
    ("status",): Case(lambda r: ["status"], expect="last tick"),
    ("tick",): Case(lambda r: ["tick"], expect="tick at"),
    ("outbox", "resolve"): Case(
        lambda r: ["outbox", "resolve", "1", "--sent"], code=1, expect="no email #1"
    ),
    ("outbox", "settle"): Case(
        lambda r: ["outbox", "settle", "--sent", "--yes"], expect="no emails with an unknown"
    ),
    ("leads", "import"): Case(
        lambda r: [
            "leads",
            "import",
            _write(
                r.folder / "leads.csv",
                "email,first_name,numbness_type,timezone,consent_at,consent_source\n"
                "robin@example.com,Robin,acute,Europe/Berlin,2026-06-01T10:00:00Z,old tool\n",
            ),
        ],
        needs=("sequences",),
    ),
    ("leads", "export"): Case(lambda r: ["leads", "export", str(r.folder / "leads-out.csv")]),
    ("leads", "purge"): Case(lambda r: ["leads", "purge"], expect="deleted"),
    ("consent", "export"): Case(lambda r: ["consent", "export", str(r.folder / "consent.csv")]),
    ("sequences", "load"): Case(
        lambda r: ["sequences", "load", str(get_settings().templates_dir / "sequences")]
    ),
    ("sequences", "export"): Case(
        lambda r: ["sequences", "export", str(r.folder / "exported")], needs=("sequences",)
    ),
    ("sequences", "migrate"): Case(
        lambda r: ["sequences", "migrate", "acute-basics"], needs=("sequences",)
    ),
    ("suppressions", "add"): Case(lambda r: ["suppressions", "add", "gone@example.com"]),
    ("suppressions", "import"): Case(
        lambda r: [
            "suppressions",
            "import",
            _write(r.folder / "suppressed.csv", "email,reason\ngone@example.com,staff\n"),
        ]
    ),
    ("suppressions", "sync"): Case(
        lambda r: ["suppressions", "sync"], before=_sendgrid_env, expect="newly suppressed"
    ),
    ("staff", "create"): Case(
        lambda r: ["staff", "create", "admin@clinic.example", "--password-stdin"],
        stdin="a long enough password for tests\n",
    ),
    ("tokens", "create"): Case(lambda r: ["tokens", "create", "booking-system"]),
    ("tokens", "revoke"): Case(
        lambda r: ["tokens", "revoke", "booking-system"], before=_token_made
    ),
    # An upcoming booked visit plans reminders through the outbox, whose rows point at
    # broadcasts: the command once crashed here because it never loaded that model.
    ("visits", "import"): Case(_upcoming_visit, expect="1 created", after=_visit_booked),
    ("locations", "add"): Case(lambda r: SOUTH, expect="added location south"),
    ("locations", "list"): Case(lambda r: ["locations", "list"], expect="main"),
    ("locations", "remove"): Case(
        lambda r: ["locations", "remove", "south"], before=_south_added, expect="removed"
    ),
}


def _database_url(run: Run) -> str:
    return run.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{run.folder / 'data' / 'nurture.db'}"


def _copy_suite_database(target: Path) -> None:
    """Copy the suite's SQLite database (migrated, holding what the test wrote) for a child."""
    source = make_url(get_settings().resolved_database_url).database
    assert source
    target.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target / "nurture.db") as dst:
        src.backup(dst)


def _run(run: Run, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args],
        env=run.env,
        cwd=run.folder,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_command_has_a_case() -> None:
    assert sorted(commands(main)) == sorted(CASES), "add a case for each new command"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """A fresh data folder and the environment a child command reads."""
    env = {k: v for k, v in os.environ.items() if k != "NURTURE_SECRET_KEY"}
    env.update(NURTURE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    with ExitStack() as stack:
        yield Run(folder=tmp_path, env=env, port=free_port(), stack=stack)


def _serve(run: Run, args: list[str], ready: Callable[[Run], bool], what: str) -> None:
    """Start a long-running program, wait until it is up (or gone), then stop it."""
    log = run.folder / "output.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nurture", *args],
            env=run.env,
            cwd=run.folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: proc.poll() is not None or ready(run), timeout=120, what=what, log=log)
        assert proc.poll() is None, f"{what} stopped by itself:\n{log.read_text()[-4000:]}"
    finally:
        # Flower may be mid-way through a worker inspection when the signal comes, and on a
        # busy machine that takes a while to give up: stopping waits on the process, not a clock
        # tuned to a quiet one.
        run.code = stop(proc, signal.SIGTERM, timeout=90)
    run.output = log.read_text(errors="replace")


@pytest.mark.parametrize("words", sorted(CASES), ids=" ".join)
def test_the_command_runs_as_its_own_process(
    words: tuple[str, ...], run: Run, request: pytest.FixtureRequest
) -> None:
    case = CASES[words]
    if "sequences" in case.needs:
        request.getfixturevalue("sequences_loaded")
    if case.database and not get_settings().resolved_database_url.startswith("postgresql"):
        _copy_suite_database(run.folder / "data")
    if case.before is not None:
        case.before(run)
    args = case.args(run)
    if case.ready is None:
        done = _run(run, args, case.stdin)
        run.output, run.code = done.stdout, done.returncode
    else:
        _serve(run, args, case.ready, " ".join(words))
    assert "Traceback" not in run.output, run.output[-4000:]
    assert run.code == case.code, run.output[-4000:]
    assert case.expect in run.output, run.output[-4000:]
    if case.after is not None:
        case.after(run)
