"""The tick on a big outbox: nothing due among millions of rows, then claiming 10,000 due rows.

Seeds --rows outbox rows for --rows/10 leads (one enrollment each) with generate_series
(statuses mixed: 60% sent, 30% pending due in the future, the rest cancelled/skipped/failed/
unknown and 0.01% sending under a live lease), building messages' indexes after the insert, then
VACUUM ANALYZE (10,000,000 rows: a few minutes and about 5 GB), then:

1. empty tick: service.tick(dispatch=no-op) with nothing due, --ticks times, interleaved with
   the baseline, a `SELECT 1` round trip through the same engine (session open, query,
   commit). Reports median/p95 ms and the ratio tick / SELECT 1. Target: tick <= 10 ms.
2. claim: makes --due rows due and ticks (no-op dispatch) until all are claimed, for each
   NURTURE_TICK_BATCH_SIZE in --batches; reports rows/s, ms per batch, and the ratio to the
   default batch size 200. The same rows are reset to pending between batch sizes, and back to
   pending in the future at the start of a --reuse run.

    BENCH_DB=tick_big .venv/bin/python bench/bench_tick.py --rows 10000000 --keep-db
    BENCH_DB=tick_big .venv/bin/python bench/bench_tick.py --reuse --keep-db  # seeded above
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import benchlib

DB = "nurture_bench_tick"


def seed(rows: int) -> None:
    """Seed `rows` outbox rows for rows/10 leads (one enrollment each) in a few set statements.

    The messages table's secondary indexes and constraints are dropped for the insert and built
    again after it: one sorted build per index is many times faster than 10M index insertions.
    """
    from sqlalchemy import text

    from nurture.core.db import get_engine

    steps = benchlib.first_steps()
    audiences = "ARRAY[" + ",".join(f"'{s.audience}'" for s in steps) + "]"
    step_ids = "ARRAY[" + ",".join(str(s.step_id) for s in steps) + "]"
    values = benchlib._steps_values(steps)
    leads = max(rows // 10, 1)
    t0 = time.perf_counter()
    with get_engine().begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(
            text(
                f"""
                INSERT INTO leads (email, first_name, numbness_type, timezone, language, status,
                                   created_at, confirmed_at, token_version)
                SELECT 'tick-' || g || '@example.com', 'Robin',
                       ({audiences})[1 + g % {len(steps)}], 'Europe/Berlin', 'en',
                       CASE WHEN g % 50 = 0 THEN 'unsubscribed' ELSE 'active' END,
                       now() - interval '100 days', now() - interval '100 days', 0
                FROM generate_series(1, :n) AS g
                """
            ),
            {"n": leads},
        )
        conn.execute(
            text(
                f"""
                INSERT INTO enrollments (lead_id, sequence_id, version_id, status, last_position,
                                         enrolled_at)
                SELECT l.id, s.seq, s.ver,
                       CASE WHEN l.id % 3 = 0 THEN 'completed' ELSE 'active' END,
                       1, now() - interval '100 days'
                FROM leads l JOIN (VALUES {values}) AS s(aud, seq, ver, step)
                  ON s.aud = l.numbness_type
                ORDER BY l.id
                """
            )
        )
        lead0, enr0 = conn.execute(
            text("SELECT (SELECT min(id) FROM leads), (SELECT min(id) FROM enrollments)")
        ).one()
        print(f"seeded {leads} leads and enrollments in {time.perf_counter() - t0:.0f}s")
        rebuild = _drop_message_indexes(conn)
        # Row g belongs to lead/enrollment k = (g - 1) % leads (both inserted in id order, so
        # contiguous); its first row (g <= leads) is that enrollment's step 1, the rest are
        # history without a step. Status by g % 1000: 0-599 sent, 600-899 pending (due in the
        # future), 900-949 cancelled, 950-979 skipped, 980-989 failed, 990-998 unknown (already
        # sent again once), 999 sent, or sending under a live lease for every tenth of those.
        conn.execute(
            text(
                f"""
                INSERT INTO messages (key, stream, lead_id, enrollment_id, step_id, context,
                                      status, due_at, claimed_at, lease_expires_at, attempts,
                                      sent_at, unknown_since, resent_after_unknown, created_at)
                SELECT 'tick:' || g, 'marketing', :lead0 + k, :enr0 + k,
                       CASE WHEN g <= :leads THEN ({step_ids})[1 + (k + 1) % {len(steps)}] END,
                       '{{}}', st.status,
                       CASE WHEN st.status = 'pending'
                            THEN now() + interval '1 hour' + (g % 30) * interval '1 day'
                            ELSE now() - (g % 90) * interval '1 day' END,
                       CASE WHEN st.status = 'sending' THEN now() END,
                       CASE WHEN st.status = 'sending' THEN now() + interval '1 day' END,
                       CASE WHEN st.status IN ('sent', 'failed', 'unknown') THEN 1 ELSE 0 END,
                       CASE WHEN st.status = 'sent' THEN now() - (g % 90) * interval '1 day'
                       END,
                       CASE WHEN st.status = 'unknown' THEN now() - (g % 90) * interval '1 day'
                       END,
                       st.status = 'unknown',
                       now() - interval '100 days'
                FROM generate_series(1, :n) AS g
                CROSS JOIN LATERAL (SELECT (g - 1) % :leads AS k) AS kk
                CROSS JOIN LATERAL (SELECT CASE
                    WHEN g % 1000 < 600 THEN 'sent'
                    WHEN g % 1000 < 900 THEN 'pending'
                    WHEN g % 1000 < 950 THEN 'cancelled'
                    WHEN g % 1000 < 980 THEN 'skipped'
                    WHEN g % 1000 < 990 THEN 'failed'
                    WHEN g % 1000 < 999 THEN 'unknown'
                    WHEN g % 10000 = 9999 THEN 'sending'
                    ELSE 'sent' END AS status) AS st
                """
            ),
            {"n": rows, "leads": leads, "lead0": lead0, "enr0": enr0},
        )
        print(f"inserted {rows} outbox rows at {time.perf_counter() - t0:.0f}s")
        for sql in rebuild:
            conn.execute(text(sql))
    print(f"seeded and indexed {rows} outbox rows in {time.perf_counter() - t0:.0f}s")
    benchlib.analyze()
    print(f"vacuumed and analyzed at {time.perf_counter() - t0:.0f}s")


def _drop_message_indexes(conn) -> list[str]:  # type: ignore[no-untyped-def]
    """Drop messages' unique and foreign-key constraints and plain indexes (not its primary key);
    return the statements that create them again."""
    from sqlalchemy import text

    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'messages'::regclass AND contype IN ('u', 'f') "
            "ORDER BY contype DESC"  # unique first: the foreign keys re-added last
        )
    ).all()
    indexes = conn.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = 'messages'::regclass AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        )
    ).all()
    for name, _ in constraints:
        conn.execute(text(f'ALTER TABLE messages DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(text(f"DROP INDEX {name}"))
    return [f'ALTER TABLE messages ADD CONSTRAINT "{n}" {d}' for n, d in constraints] + [
        d for _, d in indexes
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=300, help="empty ticks to time")
    parser.add_argument("--due", type=int, default=10_000, help="rows to claim")
    parser.add_argument("--batches", default="50,200,1000,5000")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept, seeded database")
    args = parser.parse_args()
    print(benchlib.describe_code())

    reuse = args.reuse and benchlib.database_exists(DB)
    url = benchlib.db_url(DB) if reuse else benchlib.create_database(DB)
    data_dir = tempfile.mkdtemp(prefix="nurture-bench-tick-")
    try:
        benchlib.configure(database_url=url, data_dir=data_dir)
        benchlib.prepare_schema()
        if not reuse:
            seed(args.rows)
        run(args, url, data_dir)
    finally:
        if not args.keep_db:
            benchlib.drop_database(DB)


def run(args: argparse.Namespace, url: str, data_dir: str) -> None:
    from sqlalchemy import text

    from nurture.core import clock
    from nurture.core.db import get_engine, session_scope
    from nurture.delivery import service

    with get_engine().begin() as conn:
        # A kept database still holds the rows the last run claimed: due again, they would
        # make the "empty" tick claim them.
        conn.execute(
            text(
                "UPDATE messages SET status = 'pending', claimed_at = NULL, "
                "lease_expires_at = NULL, due_at = now() + interval '1 hour' "
                "WHERE id IN (SELECT id FROM bench_due)"
                if conn.scalar(text("SELECT to_regclass('bench_due') IS NOT NULL"))
                else "SELECT 1"
            )
        )
    counts = benchlib.status_counts()
    print(f"outbox: {sum(counts.values())} rows {counts}")
    dispatched: list[int] = []

    def noop(ids: list[int]) -> None:
        dispatched.extend(ids)

    def select1() -> None:
        with session_scope() as session:
            session.execute(text("SELECT 1"))

    # ------------------------------------------------------------------ empty tick
    for _ in range(10):
        service.tick(dispatch=noop)
        select1()
    assert not dispatched, f"{len(dispatched)} rows were due; the seed should leave none"
    tick_ms, sel_ms = [], []
    for _ in range(args.ticks):
        t0 = time.perf_counter()
        service.tick(dispatch=noop)
        tick_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        select1()
        sel_ms.append((time.perf_counter() - t0) * 1e3)
    med_t, med_s = benchlib.median(tick_ms), benchlib.median(sel_ms)
    print(f"\nempty tick over {sum(counts.values())} outbox rows, {args.ticks} ticks:")
    print(f"  tick      median {med_t:6.2f} ms  p95 {benchlib.pct(tick_ms, 0.95):6.2f} ms")
    print(f"  SELECT 1  median {med_s:6.2f} ms  p95 {benchlib.pct(sel_ms, 0.95):6.2f} ms")
    print(
        f"  ratio tick / SELECT 1: {med_t / med_s:.1f}x; target <= 10 ms: "
        f"{'met' if med_t <= 10 else 'NOT met'}"
    )
    with get_engine().connect() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM messages WHERE status = 'pending' "
                "AND due_at <= now() ORDER BY due_at, id LIMIT 200 FOR UPDATE SKIP LOCKED"
            )
        ).scalars()
        print("  claim query plan (nothing due):")
        for line in plan:
            print(f"    {line}")

    # where an empty tick's time goes: a one-row write transaction for reference, and a
    # profile of the tick's own functions (cumulative wall time per tick)
    write_ms = []
    for _ in range(100):
        t0 = time.perf_counter()
        with session_scope() as session:
            service.beat_heartbeat(session, name="bench", at=clock.now())
        write_ms.append((time.perf_counter() - t0) * 1e3)
    print(f"  reference, one-row upsert + commit: median {benchlib.median(write_ms):.2f} ms")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(100):
        service.tick(dispatch=noop)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows = sorted(
        (
            (ct / 100 * 1e3, f"{Path(fn).name}:{name}")
            for (fn, _, name), (_, _, _, ct, _) in stats.items()
            if "/nurture/" in fn and name not in ("<lambda>", "<module>")
        ),
        reverse=True,
    )
    print("  profile of an empty tick (ms per tick, cumulative, under cProfile):")
    for ms, name in rows[:12]:
        print(f"    {ms:6.2f}  {name}")

    # ------------------------------------------------------------------ claiming
    with get_engine().begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_due"))
        conn.execute(
            text(
                "CREATE TABLE bench_due AS SELECT id FROM messages WHERE status = 'pending' "
                "ORDER BY id LIMIT :n"
            ),
            {"n": args.due},
        )
    results = {}
    for size in [int(x) for x in args.batches.split(",")]:
        with get_engine().begin() as conn:
            conn.execute(
                text(
                    "UPDATE messages SET status = 'pending', claimed_at = NULL, "
                    "lease_expires_at = NULL, due_at = now() - interval '1 minute' "
                    "WHERE id IN (SELECT id FROM bench_due)"
                )
            )
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE messages"))
        # no-op dispatch leaves every claimed row in flight: lift the in-flight cap so the
        # claims measured are not stopped by it (the seed already holds leased rows)
        benchlib.configure(
            database_url=url,
            data_dir=data_dir,
            tick_batch_size=size,
            max_in_flight=sum(counts.values()),
        )
        select1()  # open the pool
        dispatched.clear()
        ticks = 0
        t0 = time.perf_counter()
        while len(dispatched) < args.due:
            before = len(dispatched)
            service.tick(dispatch=noop)
            ticks += 1
            if len(dispatched) == before:
                break
        wall = time.perf_counter() - t0
        assert len(dispatched) == args.due == len(set(dispatched)), len(dispatched)
        batches = -(-args.due // size)
        results[size] = (args.due / wall, wall / batches * 1e3, ticks)
    base = results.get(200, next(iter(results.values())))[0]
    print(
        f"\nclaiming {args.due} due rows among {sum(counts.values())} (ticks with no-op dispatch):"
    )
    for size, (rate, per_batch, ticks) in results.items():
        print(
            f"  batch {size:5d}: {rate:8.0f} rows/s  {per_batch:7.1f} ms/batch  {ticks:3d} ticks"
            f"  ratio to batch 200: {rate / base:.2f}x"
        )


if __name__ == "__main__":
    main()
