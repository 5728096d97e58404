"""End to end: due rows in PostgreSQL to emails accepted by (fake) SendGrid, real processes.

nurture: seeds --n step-1 drip emails (4 audiences; sending each plans the next step) with a
far-future due_at, starts `python -m nurture worker` (prefork, --procs children) and
`python -m nurture beat` (NURTURE_TICK_SECONDS=1) on Redis db 14, then makes every row due in
one UPDATE and measures due-to-sent throughput: n / (last sent_at - moment the rows became due).

baseline (same run, same Redis, same fake SendGrid, same latency): one Celery task per email
queued with countdown=uniform(0, 1) s, each loading, rendering and sending one email with the
sendgrid package's client (bench/baseline_app.py, the Twilio appointment-reminders approach).
By default twice: prefork with 2 processes (the sample's `celery worker` on this 2-core box)
and, more generous, a 32-thread pool (as many requests in flight as nurture's default).

The fake SendGrid runs in its own process with --latency (default 50 ms) per request. CPU
seconds of every process group are read with psutil over the measured window.

    /work/venv/bin/python bench/bench_end_to_end.py [--n 20000] [--procs 2]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import benchlib
import psutil
from fake_sendgrid import FakeSendGrid

DB = "nurture_bench_e2e"
FAR = "timestamptz '2100-01-01 00:00:00+00'"


def drain(first: int, last: int, meter: benchlib.CpuMeter | None, timeout: float, children) -> None:  # type: ignore[no-untyped-def]
    n = last - first + 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if meter is not None:
            meter.poll()
        for child in children:
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} died:\n{child.log_text()[-3000:]}")
        sent, _, _ = benchlib.sent_window(first, last)
        if sent >= n:
            return
    counts = benchlib.status_counts(first, last)
    raise TimeoutError(f"not all {n} sent within {timeout:.0f}s: {counts}")


def report(label: str, n: int, t0: float, first: int, last: int, meter, used, stats) -> float:  # type: ignore[no-untyped-def]
    sent, lo, hi = benchlib.sent_window(first, last)
    assert sent == n, (sent, n)
    assert lo is not None
    assert hi is not None
    rate = n / (hi - t0)
    print(
        f"\n{label}: {n} emails due-to-sent in {hi - t0:.1f}s = {rate:.0f} emails/s "
        f"(first sent {lo - t0:.2f}s after due; server saw {stats['requests']} requests)"
    )
    print(meter.report(used, per=n))
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="emails for nurture")
    parser.add_argument("--procs", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--send-concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=200, help="NURTURE_TICK_BATCH_SIZE")
    parser.add_argument("--latency", type=float, default=0.05, help="fake SendGrid latency, s")
    parser.add_argument(
        "--baselines",
        default="prefork:2:1000,threads:32:3000",
        help="comma list of POOL:CONCURRENCY:N for the per-email-task baseline ('' for none)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=400,
        help="emails sent before measuring (a quarter of it for baselines)",
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(benchlib.describe_code())

    server = FakeSendGrid(latency=args.latency)
    benchlib.run_isolated(DB, "nurture-bench-e2e-", server, args, run)


def run(args: argparse.Namespace, server: FakeSendGrid, url: str, tmp: Path) -> None:
    settings = {
        "database_url": url,
        "broker_url": benchlib.BROKER_URL,
        "email_backend": "sendgrid",
        "sendgrid_api_key": server.api_key,
        "sendgrid_api_host": server.url,
        "tick_seconds": 1,
        "tick_batch_size": args.batch,
        "send_concurrency": args.send_concurrency,
        "data_dir": tmp / "data",
    }
    benchlib.configure(**settings)
    benchlib.prepare_schema()
    w_first, w_last = benchlib.seed_due_marketing(args.warmup, prefix="warm", due_sql=FAR)
    first, last = benchlib.seed_due_marketing(args.n, prefix="e2e", due_sql=FAR)
    benchlib.analyze()
    env = benchlib.child_env(**settings)
    me = psutil.Process()
    print(
        f"end to end: fake SendGrid latency {args.latency * 1e3:.0f} ms, "
        f"{psutil.cpu_count()} cores, Redis {benchlib.BROKER_URL}"
    )

    # ---------------------------------------------------------------- nurture
    stack = benchlib.start_stack(env=env, logdir=tmp, procs=args.procs)
    try:
        # warm-up: every worker process compiles its templates and opens its pools once
        benchlib.make_due(w_first, w_last)
        drain(w_first, w_last, None, 120, [stack.worker])
        time.sleep(1)
        server.reset()
        meter = benchlib.CpuMeter(
            {
                "nurture worker": stack.worker.tree,
                "nurture beat": stack.beat.tree if stack.beat else list,
                "fake SendGrid": lambda: [psutil.Process(server.pid)],
                "PostgreSQL": benchlib.postgres_processes,
                "Redis": benchlib.redis_processes,
                "bench driver": lambda: [me],
            }
        )
        meter.start()
        t0 = benchlib.make_due(first, last)
        drain(first, last, meter, max(180.0, args.n / 20), [stack.worker])
        used = meter.stop()
        stats = server.stats()
    finally:
        stack.stop()
    label = (
        f"nurture ({args.procs} prefork worker processes, batches of {args.batch}, "
        f"{args.send_concurrency} sends in flight per batch)"
    )
    nurture_rate = report(label, args.n, t0, first, last, meter, used, stats)
    bounds(meter, used)

    # ---------------------------------------------------------------- baselines
    results = []
    for spec in [s for s in args.baselines.split(",") if s.strip()]:
        pool, conc, n = spec.split(":")
        benchlib.flush_redis()
        wb_first, wb_last = benchlib.seed_due_marketing(
            args.warmup // 4, prefix=f"warm-{pool}", due_sql=FAR
        )
        b_first, b_last = benchlib.seed_due_marketing(int(n), prefix=f"base-{pool}", due_sql=FAR)
        worker = benchlib.spawn(
            f"baseline-{pool}",
            [
                benchlib.python(),
                "-m",
                "celery",
                "-A",
                "baseline_app",
                "worker",
                "--loglevel=INFO",
                f"--pool={pool}",
                f"--concurrency={conc}",
            ],
            env=env,
            cwd=benchlib.BENCH,
            logdir=tmp,
        )
        try:
            benchlib.wait_ready(worker)
            from baseline_app import send_reminder

            for mid in range(wb_first, wb_last + 1):  # warm-up, as for nurture
                send_reminder.apply_async((mid,), countdown=random.uniform(0, 1))
            drain(wb_first, wb_last, None, 300, [worker])
            time.sleep(1)
            server.reset()

            meter = benchlib.CpuMeter(
                {
                    "baseline worker": worker.tree,
                    "fake SendGrid": lambda: [psutil.Process(server.pid)],
                    "PostgreSQL": benchlib.postgres_processes,
                    "Redis": benchlib.redis_processes,
                    "bench driver": lambda: [me],
                }
            )
            meter.start()
            t0 = time.time()
            for mid in range(b_first, b_last + 1):
                send_reminder.apply_async((mid,), countdown=random.uniform(0, 1))
            enqueued = time.time() - t0
            drain(b_first, b_last, meter, max(300.0, int(n) / 5), [worker])
            used = meter.stop()
            stats = server.stats()
        finally:
            benchlib.stop(worker, timeout=60)
        label = f"baseline: task per email, {pool} pool x {conc} (enqueue took {enqueued:.1f}s)"
        rate = report(label, int(n), t0, b_first, b_last, meter, used, stats)
        results.append((f"{pool} x {conc}", int(n), rate))

    print("\nsummary")
    print(f"  nurture          {args.n:6d} emails  {nurture_rate:7.0f} emails/s")
    for name, n, rate in results:
        print(
            f"  baseline {name:<12} {n:6d} emails  {rate:7.0f} emails/s   "
            f"nurture/baseline = {nurture_rate / rate:.1f}x"
        )
    best = max((rate for _, _, rate in results), default=None)
    times = f"{nurture_rate / best:.1f}x" if best else "no baseline run"
    print(
        f"  targets (issue #26): >= 3000 emails/s "
        f"({'met' if nurture_rate >= 3000 else 'NOT met'}: {nurture_rate:.0f}/s), "
        f">= 100x the fastest baseline "
        f"({'met' if best and nurture_rate >= 100 * best else 'NOT met'}: {times})"
    )


def bounds(meter: benchlib.CpuMeter, used: dict[str, float]) -> None:
    busy = meter.system["busy_share"]
    top = max(used, key=lambda k: used[k])
    verdict = "CPU-bound (the machine's cores are saturated)" if busy > 0.85 else "not CPU-bound"
    print(f"  bound: {verdict}; biggest CPU user: {top} ({used[top] / meter.wall:.2f} cores)")


if __name__ == "__main__":
    main()
