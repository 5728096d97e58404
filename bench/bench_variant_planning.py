"""What a step's A/B test costs when the outbox plans emails: no arms, 2 arms, 4 arms.

Three sequences are published, each "intro, then test", the test step with no variants
(baseline), 2 arms or 4 arms. Each gets --n enrollments that have had their intro. Then, for
each case, the next step is planned for all of them in batches of --batch through the code the
tick's send loop runs: `enrollments.advance` for each enrollment, one `variants.plan_many` per
batch (where `variants.assign` locks the step's arm rows, counts the step's rows per arm and
gives each new row the emptiest arm), and the commit that ends the lock. Loading each batch's
enrollments is outside the timing; it is the same in every case.

A round plans all three cases batch by batch in turns (batch 1 of a, b, c, then batch 2 of
b, c, a, ...), so a noisy moment on a shared machine hits every case alike; the planned rows
are deleted between rounds, and a warm-up batch per case comes first. Prints the median of the
rounds' ms per 1,000 planned rows; the ratio of each case to the baseline, the median over all
rounds of each batch's time over the baseline batch planned next to it (and those ratios'
quartiles); and the ms per 1,000 rows spent inside `variants.assign`, the only code that
differs between the cases, timed by a wrapper around it. Checks that every round planned
one row per enrollment with the arms at most one apart. A default run takes about 1.5 min.

Runs on the embedded default (SQLite in a temporary data dir) and, when NURTURE_DATABASE_URL
points at PostgreSQL, on PostgreSQL too, in a fresh database `nurture_bench_variants` made
on that server (dropped at the end unless --keep-db). --prior gives each test step that many
rows planned before the run (as a test that has been running for a while): the per-arm count
reads them all on every batch.

    python bench/bench_variant_planning.py [--n 5000] [--batch 500] [--rounds 3] \
        [--prior 0] [--keep-db]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import benchlib

DB = "nurture_bench_variants"
CASES = (0, 2, 4)  # arms on the tested step; 0 is the baseline
ARM_KEYS = ("a", "b", "c", "d")
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    arms: int
    test_step_id: int
    enrollment_ids: list[int]

    @property
    def label(self) -> str:
        return "no variants, baseline" if not self.arms else f"{self.arms} arms"


def spec(arms: int) -> Any:
    from nurture.sequences.files import SequenceSpec

    test: dict[str, Any] = {"key": "test", "delay_days": 1, "subject": "Own", "html": "<p>T</p>"}
    if arms:
        test["variants"] = [{"key": k, "subject": f"Subject {k}"} for k in ARM_KEYS[:arms]]
    return SequenceSpec.model_validate(
        {
            "slug": f"bench-{arms}",
            "name": f"Bench {arms}",
            "audience": "chronic",
            "window": {"start_hour": 8, "end_hour": 20},
            "steps": [{"key": "intro", "subject": "Intro", "html": "<p>Hello</p>"}, test],
        }
    )


def setup(n: int, prior: int) -> list[Case]:
    """Publish the three sequences and give each n enrollments one step in (intro done)."""
    from sqlalchemy import insert, select

    from nurture.core.db import chunked, session_scope
    from nurture.enrollments.models import Enrollment
    from nurture.leads.models import Lead
    from nurture.outbox.models import Message
    from nurture.sequences import service as sequences
    from nurture.sequences.models import SequenceVersion

    cases = []
    with session_scope() as session:
        for arms in CASES:
            sequences.publish_spec(session, spec=spec(arms))
            session.flush()
            version = session.scalars(
                select(SequenceVersion).order_by(SequenceVersion.id.desc()).limit(1)
            ).one()
            test_step = version.steps[1]
            first = session.scalar(select(Lead.id).order_by(Lead.id.desc()).limit(1)) or 0
            leads: list[dict[str, Any]] = [
                {
                    "email": f"v{arms}-{i}@example.com",
                    "first_name": "Sam",
                    "numbness_type": "chronic",
                    "timezone": "Europe/Berlin",
                    "status": "active",
                    "token_version": 0,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(n)
            ]
            for part in chunked(leads, 5000):
                session.execute(insert(Lead), part)
            lead_ids = list(session.scalars(select(Lead.id).where(Lead.id > first)))
            enrolled: list[dict[str, Any]] = [
                {
                    "lead_id": lead_id,
                    "sequence_id": version.sequence_id,
                    "version_id": version.id,
                    "status": "active",
                    "last_position": 1,
                    "enrolled_at": T0,
                    "skip_keys": [],
                }
                for lead_id in lead_ids
            ]
            for part in chunked(enrolled, 5000):
                session.execute(insert(Enrollment), part)
            ids = list(
                session.scalars(
                    select(Enrollment.id)
                    .where(Enrollment.version_id == version.id)
                    .order_by(Enrollment.id)
                )
            )
            # Rows of the step planned before the run, evenly split (or arm-less for the
            # baseline), so every case's table and step hold as many rows.
            history: list[dict[str, Any]] = [
                {
                    "key": f"prior:{test_step.id}:{i}",
                    "stream": "marketing",
                    "step_id": test_step.id,
                    "variant_key": ARM_KEYS[i % arms] if arms else None,
                    "status": "sent",
                    "due_at": T0 - timedelta(days=1),
                }
                for i in range(prior)
            ]
            for part in chunked(history, 5000):
                session.execute(insert(Message), part)
            cases.append(Case(arms, test_step.id, ids))
    return cases


def reset(cases: list[Case]) -> None:
    """Delete the rows planned by the last round and put the enrollments back after intro."""
    from sqlalchemy import delete, text, update

    from nurture.core.db import get_engine
    from nurture.enrollments.models import Enrollment
    from nurture.outbox.models import Message

    engine = get_engine()
    with engine.begin() as conn:
        for case in cases:
            conn.execute(
                delete(Message).where(
                    Message.step_id == case.test_step_id, Message.enrollment_id.is_not(None)
                )
            )
        conn.execute(update(Enrollment).values(last_position=1, status="active"))
    # Same starting state every round: no dead rows for autovacuum to pick up mid-measurement.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))


class AssignTimer:
    """Wraps `variants.assign` to add up its wall time: the only code that differs by case."""

    def __init__(self) -> None:
        from nurture.enrollments import variants

        self.real = variants.assign
        self.seconds = 0.0

    def __call__(self, session: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            return self.real(session, rows)
        finally:
            self.seconds += time.perf_counter() - started


def plan_batch(ids: list[int], timer: AssignTimer) -> tuple[float, float]:
    """Plan the step after intro for these enrollments as the tick does.

    Returns the seconds it took and the seconds of it spent in `variants.assign`.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from nurture.core.db import session_factory
    from nurture.enrollments import service as enrollments
    from nurture.enrollments import variants
    from nurture.enrollments.models import Enrollment
    from nurture.sequences.models import SequenceVersion

    with session_factory()() as session:
        loaded = session.scalars(
            select(Enrollment)
            .where(Enrollment.id.in_(ids))
            .options(
                selectinload(Enrollment.lead),
                selectinload(Enrollment.version).selectinload(SequenceVersion.steps),
            )
            .order_by(Enrollment.id)
        ).all()
        gc.collect()  # every batch starts from the same heap, whichever case ran before it
        in_assign = timer.seconds
        started = time.perf_counter()
        rows: list[dict[str, Any]] = []
        for enrollment in loaded:
            intro = enrollment.version.steps[0]
            enrollments.advance(session, enrollment=enrollment, step=intro, at=T0, batch=rows)
        # Autoflush would write the enrollments' updates at assign's first query; flushing
        # here does the same work at the same point, but keeps it out of assign's share.
        session.flush()
        variants.plan_many(session, rows)
        session.commit()  # ends the lock on the step's arms: part of what planning costs
        return time.perf_counter() - started, timer.seconds - in_assign


def plan_round(
    cases: list[Case], batch: int, turn: int, timer: AssignTimer
) -> dict[int, list[tuple[float, float]]]:
    """Plan every case's enrollments, batch by batch taking turns; return each batch's times.

    Interleaved so that a noisy moment on a shared machine hits every case alike.
    """
    spent: dict[int, list[tuple[float, float]]] = {c.arms: [] for c in cases}
    n = len(cases[0].enrollment_ids)
    for i, start in enumerate(range(0, n, batch)):
        k = (turn + i) % len(cases)
        for case in cases[k:] + cases[:k]:
            spent[case.arms].append(plan_batch(case.enrollment_ids[start : start + batch], timer))
    return spent


def check(case: Case) -> None:
    """One planned row per enrollment; the arms (history included) at most one apart."""
    from sqlalchemy import func, select

    from nurture.core.db import session_scope
    from nurture.outbox.models import Message

    with session_scope() as session:
        planned = session.scalar(
            select(func.count()).where(
                Message.step_id == case.test_step_id, Message.enrollment_id.is_not(None)
            )
        )
        split = dict(
            session.execute(
                select(Message.variant_key, func.count())
                .where(Message.step_id == case.test_step_id)
                .group_by(Message.variant_key)
            ).all()
        )
    if planned != len(case.enrollment_ids):
        raise SystemExit(f"{case.label}: planned {planned} of {len(case.enrollment_ids)}")
    arms = set(ARM_KEYS[: case.arms]) if case.arms else {None}
    if set(split) != arms or max(split.values()) - min(split.values()) > 1:
        raise SystemExit(f"{case.label}: uneven or wrong split {split}")


def measure(name: str, args: argparse.Namespace) -> None:
    from sqlalchemy.engine import make_url

    from nurture.core.config import get_settings
    from nurture.core.migrate import upgrade

    upgrade()
    started = time.perf_counter()
    cases = setup(args.n, args.prior)
    where = make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
    print(
        f"{name} ({where}): {args.n:,} enrollments per case, "
        f"batches of {args.batch}, {args.prior:,} rows planned before, "
        f"{args.rounds} rounds (set up in {time.perf_counter() - started:.1f} s)"
    )
    from nurture.enrollments import variants

    timer = AssignTimer()
    variants.assign = timer  # variants.plan_many looks it up on the module at each call
    try:
        results = run_rounds(cases, args, timer)
    finally:
        variants.assign = timer.real
    print(
        f"  {'':<22} {'ms / 1,000 rows':>15} {'rounds min-max':>15} {'/ baseline':>10}"
        f" {'batch ratios p25-p75':>20} {'in assign':>9}"
    )
    for case in cases:
        totals, paired, assign = results[case.arms]
        spread = ""
        if case.arms and len(paired) > 1:
            q1, _, q3 = statistics.quantiles(paired, n=4)
            spread = f"{q1:.2f}-{q3:.2f}x"
        print(
            f"  {case.label:<22} {statistics.median(totals):15.1f} "
            f"{f'{min(totals):.1f}-{max(totals):.1f}':>15} "
            f"{statistics.median(paired):9.2f}x {spread:>20} {statistics.median(assign):9.1f}"
        )


def run_rounds(
    cases: list[Case], args: argparse.Namespace, timer: AssignTimer
) -> dict[int, tuple[list[float], list[float], list[float]]]:
    """Per case: ms per 1,000 rows of each round, paired batch ratios, ms in assign per 1,000."""
    # Warm-up (not counted): connections, compiled queries, the first pages of each table.
    reset(cases)
    first = [Case(c.arms, c.test_step_id, c.enrollment_ids[: args.batch]) for c in cases]
    plan_round(first, args.batch, 0, timer)
    results: dict[int, tuple[list[float], list[float], list[float]]] = {
        arms: ([], [], []) for arms in CASES
    }
    per_k = 1e6 / args.n  # seconds for all n rows -> ms per 1,000 rows
    for r in range(args.rounds):
        reset(cases)
        batches = plan_round(cases, args.batch, r, timer)
        for case in cases:
            check(case)
            totals, paired, assign = results[case.arms]
            totals.append(sum(t for t, _ in batches[case.arms]) * per_k)
            assign.append(sum(a for _, a in batches[case.arms]) * per_k)
            # Each batch against the baseline's batch of the same round and position: the
            # two ran within a second of each other.
            pairs = zip(batches[case.arms], batches[0], strict=True)
            paired += [x / base for (x, _), (base, _) in pairs]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="enrollments per case")
    parser.add_argument("--batch", type=int, default=500, help="rows per plan_many (tick chunk)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prior", type=int, default=0, help="rows per test step beforehand")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    # Read before configure() drops every NURTURE_* variable of this shell.
    postgres = os.environ.get("NURTURE_DATABASE_URL", "")
    print(benchlib.describe_code())

    with tempfile.TemporaryDirectory(prefix="nurture-bench-variants-") as data_dir:
        benchlib.configure(data_dir=data_dir)
        measure("SQLite, the embedded default", args)
        benchlib.configure(data_dir=data_dir)  # closes the SQLite file before it goes
    if not postgres.startswith("postgresql"):
        print("PostgreSQL: skipped (NURTURE_DATABASE_URL does not point at PostgreSQL)")
        return
    # A fresh database on the server NURTURE_DATABASE_URL names, as the test suite makes one.
    benchlib.ADMIN_URL = postgres
    url = benchlib.create_database(DB)
    try:
        with tempfile.TemporaryDirectory(prefix="nurture-bench-variants-") as data_dir:
            benchlib.configure(database_url=url, data_dir=data_dir)
            measure("PostgreSQL", args)
    finally:
        if not args.keep_db:
            benchlib.drop_database(DB)


if __name__ == "__main__":
    main()
