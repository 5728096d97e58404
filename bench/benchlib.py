"""Shared helpers for the benchmarks: databases, seeding, subprocesses, CPU and memory readings.

Every benchmark creates its own PostgreSQL database (dropped at the end unless --keep-db) and
uses Redis db 14 (flushed before and after). Override the servers with BENCH_ADMIN_URL (any
database on the PostgreSQL server, used to CREATE/DROP DATABASE) and BENCH_BROKER_URL, and the
database name with BENCH_DB (one name for every benchmark, e.g. when several people share a server).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for _p in (str(ROOT), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import psutil  # noqa: E402 - after sys.path setup

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789abcdef"
AUDIENCES = ("acute", "chronic", "intermittent", "unsure")


# --------------------------------------------------------------------------- provenance


def describe_code() -> str:
    """Which nurture is measured: its path and commit (plus 'dirty' for local changes)."""
    import nurture

    where = Path(nurture.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(where),
                "status",
                "--porcelain",
                "nurture",
                "templates",
                "celeryconfig.py",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit = sha + (" + uncommitted changes" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        marker = where / ".snapshot-commit"
        commit = marker.read_text().strip() if marker.exists() else "unknown commit"
    return f"nurture from {where} ({commit})"


# --------------------------------------------------------------------------- databases


def database_name(name: str) -> str:
    """The database a benchmark uses: `name`, unless BENCH_DB names another."""
    return os.environ.get("BENCH_DB") or name


def db_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(ADMIN_URL).set(database=database_name(name)).render_as_string(hide_password=False)
    )


def _admin_execute(sql: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def database_exists(name: str) -> bool:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN_URL)
    try:
        with admin.connect() as conn:
            return bool(
                conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database_name(name)}
                )
            )
    finally:
        admin.dispose()


def create_database(name: str) -> str:
    """(Re)create database `name`; return its URL."""
    name = database_name(name)
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_execute(f'CREATE DATABASE "{name}"')
    return db_url(name)


def drop_database(name: str) -> None:
    from nurture.core.db import dispose_engines

    dispose_engines()
    name = database_name(name)
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_isolated(
    db: str, prefix: str, server: Any, args: Any, run: Callable[[Any, Any, str, Path], None]
) -> None:
    """Run `run(args, server, url, tmp)` on a fresh database and Redis db, then clean up."""
    url = create_database(db)
    flush_redis()
    try:
        with tempdir(prefix) as tmp:
            run(args, server, url, tmp)
    finally:
        server.close()
        flush_redis()
        if not args.keep_db:
            drop_database(db)


def flush_redis(url: str = BROKER_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


# --------------------------------------------------------------------------- settings


def nurture_env(**values: Any) -> dict[str, str]:
    """NURTURE_* variables for a benchmark (keys are lower-case setting names)."""
    env = {"NURTURE_SECRET_KEY": SECRET_KEY, "NURTURE_BASE_URL": "https://nurture.bench"}
    env.update({f"NURTURE_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


def configure(**values: Any) -> None:
    """Point this process's nurture settings at `values` (other NURTURE_* vars are dropped)."""
    for name in [n for n in os.environ if n.startswith("NURTURE_")]:
        del os.environ[name]
    os.environ.update(nurture_env(**values))
    from nurture.core.config import reset_settings
    from nurture.core.db import dispose_engines
    from nurture.delivery.ratelimit import get_limiter

    reset_settings()
    dispose_engines()
    get_limiter.cache_clear()


def child_env(**values: Any) -> dict[str, str]:
    """The environment for a child process: this one's, minus NURTURE_*, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(nurture_env(**values))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH), env.get("PYTHONPATH", "")])
    return env


def prepare_schema() -> None:
    """Migrate the configured database and load the default sequences."""
    from nurture.core.config import get_settings
    from nurture.core.db import session_scope
    from nurture.core.migrate import upgrade
    from nurture.sequences import service

    upgrade()
    with session_scope() as session:
        if not service.has_sequences(session):
            service.load_path(session, path=get_settings().templates_dir / "sequences")


# --------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class FirstStep:
    audience: str
    sequence_id: int
    version_id: int
    step_id: int


def first_steps() -> list[FirstStep]:
    """Step 1 of each sign-up audience's sequence (the oldest, as sign-ups are enrolled)."""
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT DISTINCT ON (s.audience) s.audience, s.id, v.id, st.id
                FROM sequences s
                JOIN sequence_versions v ON v.sequence_id = s.id AND v.state = 'published'
                JOIN steps st ON st.version_id = v.id AND st.position = 1
                WHERE v.trigger = 'signup'
                ORDER BY s.audience, s.id
                """
            )
        ).all()
    return [FirstStep(*r) for r in rows]


def _steps_values(steps: list[FirstStep]) -> str:
    return ", ".join(
        f"('{s.audience}', {s.sequence_id}, {s.version_id}, {s.step_id})" for s in steps
    )


def seed_due_marketing(n: int, *, prefix: str = "lead", due_sql: str = "now()") -> tuple[int, int]:
    """Insert `n` active leads (4 audiences), each enrolled with its first step's email pending.

    Returns (first, last) message id. `due_sql` is the SQL for due_at of the new rows.
    This is the realistic case: sending step 1 also plans step 2 (as on a confirmation).
    """
    from sqlalchemy import text

    from nurture.core.db import get_engine

    steps = first_steps()
    audiences = "ARRAY[" + ",".join(f"'{s.audience}'" for s in steps) + "]"
    values = _steps_values(steps)
    with get_engine().begin() as conn:
        lead0 = conn.scalar(text("SELECT coalesce(max(id), 0) FROM leads"))
        enr0 = conn.scalar(text("SELECT coalesce(max(id), 0) FROM enrollments"))
        msg0 = conn.scalar(text("SELECT coalesce(max(id), 0) FROM messages"))
        conn.execute(
            text(
                f"""
                INSERT INTO leads (email, first_name, numbness_type, timezone, language,
                                   status, created_at, confirmed_at, token_version)
                SELECT :prefix || '-' || g || '@example.com', 'Robin',
                       ({audiences})[1 + g % {len(steps)}], 'Europe/Berlin', 'en',
                       'active', now(), now(), 0
                FROM generate_series(1, :n) AS g
                """
            ),
            {"prefix": prefix, "n": n},
        )
        conn.execute(
            text(
                f"""
                INSERT INTO enrollments (lead_id, sequence_id, version_id, status, last_position,
                                         enrolled_at)
                SELECT l.id, s.seq, s.ver, 'active', 0, now()
                FROM leads l JOIN (VALUES {values}) AS s(aud, seq, ver, step)
                  ON s.aud = l.numbness_type
                WHERE l.id > :lead0 ORDER BY l.id
                """
            ),
            {"lead0": lead0},
        )
        conn.execute(
            text(
                f"""
                INSERT INTO messages (key, stream, lead_id, enrollment_id, step_id, context,
                                      status, due_at, attempts, created_at)
                SELECT 'step:' || e.id || ':' || s.step, 'marketing', e.lead_id, e.id, s.step,
                       '{{}}', 'pending', {due_sql}, 0, now()
                FROM enrollments e JOIN (VALUES {values}) AS s(aud, seq, ver, step)
                  ON s.ver = e.version_id
                WHERE e.id > :enr0 ORDER BY e.id
                """
            ),
            {"enr0": enr0},
        )
        last = conn.scalar(text("SELECT max(id) FROM messages"))
    return int(msg0) + 1, int(last)


def analyze() -> None:
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def status_counts(first: int | None = None, last: int | None = None) -> dict[str, int]:
    from sqlalchemy import text

    from nurture.core.db import get_engine

    where = "" if first is None else "WHERE id BETWEEN :a AND :b"
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(f"SELECT status, count(*) FROM messages {where} GROUP BY status"),
            {"a": first, "b": last},
        ).all()
    return {str(s): int(c) for s, c in rows}


# --------------------------------------------------------------------------- sample email


def sample_message(i: int = 1, audience: str = "chronic"):  # type: ignore[no-untyped-def]
    """A transient (unsaved) Message with lead and step, and the Facts compose() needs."""
    from nurture.core.config import get_settings
    from nurture.delivery.compose import Facts
    from nurture.leads.models import Lead
    from nurture.outbox.models import Message
    from nurture.sequences.files import read_sequence_file
    from nurture.sequences.models import Step

    spec = read_sequence_file(get_settings().templates_dir / "sequences" / f"{audience}.yml")
    s = spec.steps[0]
    step = Step(
        id=1,
        position=1,
        key=s.key,
        kind=s.kind,
        delay_days=0,
        delay_minutes=0,
        subject=s.subject,
        preheader=s.preheader,
        condition=s.condition,
        body_html=s.body_html,
        body_text=s.text,
    )
    lead = Lead(
        id=i,
        email=f"lead-{i}@example.com",
        first_name="Robin",
        numbness_type=audience,
        timezone="Europe/Berlin",
        status="active",
        token_version=0,
    )
    message = Message(
        id=i,
        key=f"step:{i}:1",
        stream="marketing",
        lead_id=i,
        enrollment_id=None,
        step_id=1,
        context={},
        status="sending",
    )
    message.lead = lead
    return message, Facts(steps={1: step}), step, lead


def sample_email(i: int = 1, audience: str = "chronic"):  # type: ignore[no-untyped-def]
    """A rendered OutgoingEmail exactly as compose() builds it for a step-1 marketing email."""
    from nurture.delivery.compose import compose

    message, facts, _, _ = sample_message(i, audience)
    return compose(message, facts)


# --------------------------------------------------------------------------- processes


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def tree(self) -> list[psutil.Process]:
        try:
            p = self.ps
            return [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, logdir: Path) -> Child:
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Child(name, proc, log)


def stop(child: Child, timeout: float = 30) -> None:
    """SIGTERM the child's process group (its own session), SIGKILL it if it lingers."""
    proc = child.proc
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, poll: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001
            last = exc
        else:
            if result:
                return result
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last})")


def wait_ready(child: Child, timeout: float = 60) -> None:
    """Wait until a Celery worker logs 'ready.'."""

    def ready() -> bool:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited:\n{child.log_text()[-3000:]}")
        return " ready." in child.log_text()

    wait_for(ready, timeout=timeout, what=f"{child.name} ready")


def python() -> str:
    return sys.executable


@contextmanager
def tempdir(prefix: str) -> Any:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


# --------------------------------------------------------------------------- CPU readings


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres",)]


def redis_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]


def _cpu_of(p: psutil.Process) -> float | None:
    try:
        t = p.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(t.user + t.system)


@dataclass
class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop().

    A group is a function returning its processes now; processes that appear in between count
    from zero, processes that disappear are counted up to the last poll() (call poll() often).
    """

    groups: dict[str, Callable[[], Iterable[psutil.Process]]]
    _first: dict[tuple[str, int], float] = field(default_factory=dict)
    _last: dict[tuple[str, int], float] = field(default_factory=dict)
    _t0: float = 0.0
    _sys0: Any = None
    wall: float = 0.0
    system: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[tuple[str, int], float]:
        out = {}
        for name, fn in self.groups.items():
            for p in fn():
                cpu = _cpu_of(p)
                if cpu is not None:
                    out[(name, p.pid)] = cpu
        return out

    def start(self) -> None:
        self._first = self._read()
        self._last = dict(self._first)
        self._t0 = time.perf_counter()
        self._sys0 = psutil.cpu_times()

    def poll(self) -> None:
        for key, cpu in self._read().items():
            self._last[key] = cpu
            self._first.setdefault(key, 0.0)

    def stop(self) -> dict[str, float]:
        self.poll()
        self.wall = time.perf_counter() - self._t0
        sys1 = psutil.cpu_times()
        total = sum(sys1) - sum(self._sys0)
        idle = (sys1.idle + getattr(sys1, "iowait", 0)) - (
            self._sys0.idle + getattr(self._sys0, "iowait", 0)
        )
        self.system = {
            "busy_share": (total - idle) / total if total else 0.0,
            "busy_cores": (total - idle) / total * psutil.cpu_count() if total else 0.0,
        }
        used: dict[str, float] = dict.fromkeys(self.groups, 0.0)
        for (name, pid), last in self._last.items():
            used[name] += max(last - self._first.get((name, pid), 0.0), 0.0)
        return used

    def report(self, used: dict[str, float], per: int | None = None, unit: str = "email") -> str:
        cores = psutil.cpu_count() or 1
        lines = [
            f"  CPU over {self.wall:.1f}s wall on {cores} cores "
            f"(machine busy {self.system['busy_share'] * 100:.0f}%):"
        ]
        rows = dict(used)
        rows["(all others)"] = max(self.system["busy_cores"] * self.wall - sum(used.values()), 0.0)
        for name, sec in rows.items():
            share = sec / self.wall if self.wall else 0
            extra = f", {sec / per * 1e3:.3f} ms/{unit}" if per else ""
            lines.append(f"    {name:<16} {sec:7.2f} s  = {share:5.2f} cores{extra}")
        return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def rss_mb(processes: Iterable[psutil.Process]) -> float:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


# --------------------------------------------------------------------------- the real stack


@dataclass
class Stack:
    """`python -m nurture worker` and `python -m nurture beat` as child processes."""

    worker: Child
    beat: Child | None
    logdir: Path

    def stop(self) -> None:
        if self.beat is not None:
            stop(self.beat)
        stop(self.worker, timeout=60)


def start_stack(
    *, env: dict[str, str], logdir: Path, procs: int, beat: bool = True, pool: str = "prefork"
) -> Stack:
    """Start a nurture worker (prefork, `procs` children) and beat; wait until ready."""
    worker = spawn(
        "worker",
        [python(), "-m", "nurture", "worker", "--pool", pool, "--concurrency", str(procs)],
        env=env,
        cwd=logdir,
        logdir=logdir,
    )
    try:
        wait_ready(worker, timeout=90)
    except BaseException:
        stop(worker)
        raise
    beat_child = None
    if beat:
        beat_child = spawn(
            "beat", [python(), "-m", "nurture", "beat"], env=env, cwd=logdir, logdir=logdir
        )
        wait_for(lambda: "Starting..." in beat_child.log_text(), timeout=60, what="beat start")
    return Stack(worker, beat_child, logdir)


def make_due(first: int, last: int) -> float:
    """Set due_at = now() on messages first..last; return the wall time right after commit."""
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            text("UPDATE messages SET due_at = now() WHERE id BETWEEN :a AND :b"),
            {"a": first, "b": last},
        )
    return time.time()


def sent_window(first: int, last: int) -> tuple[int, float | None, float | None]:
    """(sent count, first sent_at, last sent_at) as epoch seconds, for messages first..last."""
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().connect() as conn:
        n, lo, hi = conn.execute(
            text(
                "SELECT count(*), extract(epoch FROM min(sent_at)),"
                " extract(epoch FROM max(sent_at)) FROM messages"
                " WHERE id BETWEEN :a AND :b AND status = 'sent'"
            ),
            {"a": first, "b": last},
        ).one()
    return int(n), (float(lo) if lo is not None else None), (float(hi) if hi is not None else None)
