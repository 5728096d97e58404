"""Worker memory across a long drain: RSS of every `nurture worker` process, sampled over time.

Issue #26's target is "worker memory flat (within 50 MB) across a 1,000,000-email drain". The
script seeds --n due step-1 drip emails with set-based INSERT ... SELECT generate_series (one
statement per table, so 1,000,000 rows take a minute or two, not an hour of ORM objects).
Sending each one plans the lead's next step, so the outbox grows by --n rows during the run.

It starts the real worker (prefork, --procs children, the one-process-per-core setup of
docs/scaling.md, with the default batch of 200 and 32 sends in flight unless told otherwise)
and then beat (tick every 1 s), with NURTURE_EMAIL_BACKEND=sendgrid pointed at the fake
SendGrid (its own process, 0 ms latency). Every --interval seconds it samples the RSS of the
worker's whole process tree (main process and every prefork child, including any child that
replaces another) and, from the fake server, how many emails were accepted so far.

The baseline is the RSS after warm-up: the first sample after 5% of the emails were accepted,
when imports, compiled templates, connection pools and caches are in place. It reports, per
process and for all worker processes together, RSS when ready, after warm-up, at the max and
at the end, and growth end - warm and max - warm against the 50 MB target (with ratios to the
warm baseline); the RSS at 10/25/50/75/100% of the emails; and emails/s (whole drain, and
after warm-up). At the end it checks that every seeded email was sent exactly once: the
outbox rows by status, and the fake server's per-id count (each outbox id, carried in
custom_args, accepted once; none missing, none unexpected; accepted personalizations = n).

Uses Redis db 14 (BENCH_BROKER_URL picks another) and database nurture_bench_mem (BENCH_DB).

    .venv/bin/python bench/bench_worker_memory.py [--n 100000] [--procs 2] [--interval 2] \
        [--batch 200] [--send-concurrency 32] [--csv rss.csv]
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import benchlib
import psutil
from fake_sendgrid import FakeSendGrid

DB = "nurture_bench_mem"
WARM_SHARE = 0.05
TARGET_MB = 50.0
MILESTONES = (0.10, 0.25, 0.50, 0.75, 1.00)


@dataclass
class Sample:
    seconds: float
    accepted: int
    rss: dict[int, float]  # MB per worker process (pid), main process first

    @property
    def total(self) -> float:
        return sum(self.rss.values())


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    main_pid: int = 0
    pids: list[int] = field(default_factory=list)  # every worker pid seen, in order of first sight


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--procs", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--batch", type=int, default=200, help="NURTURE_TICK_BATCH_SIZE")
    parser.add_argument("--send-concurrency", type=int, default=32)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument(
        "--max-seconds", type=float, help="give up after (default: n / 50 + 300 seconds)"
    )
    parser.add_argument("--csv", type=Path, help="write every sample here")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.n < 100:
        parser.error("--n must be at least 100")
    if args.max_seconds is None:
        args.max_seconds = args.n / 50 + 300
    print(benchlib.describe_code())
    print(f"load average at start (1/5/15 min): {load()}")

    server = FakeSendGrid(latency=0.0)
    benchlib.run_isolated(DB, "nurture-bench-mem-", server, args, run)
    print(f"load average at end (1/5/15 min): {load()}")


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
    t_seed = time.perf_counter()
    first, last = benchlib.seed_due_marketing(args.n, prefix="mem", due_sql="now()")
    seeded = time.perf_counter() - t_seed
    benchlib.analyze()
    print(
        f"seeded {args.n} leads, enrollments and due step-1 emails in {seeded:.1f}s "
        f"(+ VACUUM ANALYZE: {time.perf_counter() - t_seed:.1f}s in all)"
    )
    env = benchlib.child_env(**settings)

    # the rows are already due: the worker must be up before beat starts claiming them
    stack = benchlib.start_stack(env=env, logdir=tmp, procs=args.procs, beat=False)
    result = Run(main_pid=stack.worker.proc.pid)
    server.reset()
    csv = args.csv.open("w", buffering=1) if args.csv else None
    try:
        t0, complete = drain(args, server, stack, result, env, tmp, csv)
        if complete:  # the last answers are recorded after the server counted them
            benchlib.wait_for(
                lambda: benchlib.sent_window(first, last)[0] >= args.n,
                timeout=120,
                what="every accepted email recorded as sent",
                poll=1.0,
            )
        try:
            stats, per_id = server.stats(), server.per_id()
        except (OSError, EOFError):
            if complete:
                raise
            # A signal that stopped the run can stop the fake server too: report the memory.
            print("the fake server stopped with the run: no per-id count")
            stats, per_id = {"accepted": 0, "requests": 0}, {}
    finally:
        stack.stop()
        if csv:
            csv.close()
            print(f"wrote {len(result.samples)} samples to {args.csv}")
    report(args, result, t0, first, last, stats, per_id, complete)


def drain(
    args: argparse.Namespace,
    server: FakeSendGrid,
    stack: benchlib.Stack,
    result: Run,
    env: dict[str, str],
    tmp: Path,
    csv: TextIO | None,
) -> tuple[float, bool]:
    """Start beat, sample until the fake server accepted --n emails.

    Returns the epoch second beat started and whether the drain completed: after
    --max-seconds, ^C or SIGTERM it stops early, so what was sampled is still reported.
    """
    worker = stack.worker
    procs: dict[int, psutil.Process] = {}
    t_start = time.perf_counter()

    def sample(accepted: int) -> None:
        for p in worker.tree():
            if p.pid not in procs:
                procs[p.pid] = p
                result.pids.append(p.pid)
        rss: dict[int, float] = {}
        for pid, p in list(procs.items()):
            try:
                rss[pid] = p.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                del procs[pid]
        result.samples.append(Sample(time.perf_counter() - t_start, accepted, rss))
        if csv:
            if len(result.samples) == 1:
                csv.write("seconds,accepted,processes,total_mb,main_mb,children_mb,mb_by_pid\n")
            main_mb = rss.get(result.main_pid, 0.0)
            total = sum(rss.values())
            by_pid = ";".join(f"{pid}={mb:.1f}" for pid, mb in rss.items())
            csv.write(
                f"{result.samples[-1].seconds:.1f},{accepted},{len(rss)},{total:.1f},"
                f"{main_mb:.1f},{total - main_mb:.1f},{by_pid}\n"
            )

    sample(0)
    t0 = time.time()
    beat = benchlib.spawn(
        "beat", [benchlib.python(), "-m", "nurture", "beat"], env=env, cwd=tmp, logdir=tmp
    )
    stack.beat = beat
    accepted = 0
    next_report = 0.1
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while accepted < args.n:
            time.sleep(args.interval)
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker died:\n{worker.log_text()[-3000:]}")
            if beat.proc.poll() is not None:
                raise RuntimeError(f"beat died:\n{beat.log_text()[-3000:]}")
            accepted = server.stats()["accepted"]
            sample(accepted)
            s = result.samples[-1]
            if accepted >= args.n * next_report:
                print(
                    f"  {s.seconds:6.0f}s  {accepted:>9} accepted  worker RSS {s.total:7.1f} MB "
                    f"({len(s.rss)} processes)  load {load()}",
                    flush=True,
                )
                next_report = (int(accepted / args.n * 10) + 1) / 10
            if s.seconds > args.max_seconds:
                print(f"STOPPED after --max-seconds: {accepted} of {args.n} accepted")
                return t0, False
    except KeyboardInterrupt:
        print(f"STOPPED by a signal: {accepted} of {args.n} accepted")
        return t0, False
    return t0, True


def name(result: Run, pid: int) -> str:
    if pid == result.main_pid:
        return f"main_{pid}"
    return f"child{result.pids.index(pid)}_{pid}"


def at_share(samples: list[Sample], n: int, share: float) -> Sample:
    """The first sample at which `share` of the emails had been accepted."""
    return next((s for s in samples if s.accepted >= n * share), samples[-1])


def report(
    args: argparse.Namespace,
    result: Run,
    t0: float,
    first: int,
    last: int,
    stats: dict[str, int],
    per_id: dict[str, int],
    complete: bool,
) -> None:
    samples = result.samples
    ready, end = samples[0], samples[-1]
    warm = at_share(samples, args.n, WARM_SHARE)
    sent, _, hi = benchlib.sent_window(first, last)
    hi = hi if hi is not None else t0 + end.seconds
    rate = sent / max(hi - t0, 1e-9)
    rate_warm = (end.accepted - warm.accepted) / max(end.seconds - warm.seconds, 1e-9)
    done = "" if complete else f"PARTIAL: {sent} of "
    print(
        f"\nworker memory: {done}{args.n} emails sent in {hi - t0:.0f}s = {rate:.0f} emails/s "
        f"(after warm-up: {rate_warm:.0f} emails/s); {args.procs} prefork children, batches of "
        f"{args.batch}, {args.send_concurrency} sends in flight, fake SendGrid 0 ms; "
        f"{len(samples)} samples every {args.interval:g}s; warm-up baseline = first sample "
        f"after {WARM_SHARE:.0%} accepted ({warm.accepted} at {warm.seconds:.0f}s)"
    )
    print(
        f"  {'process':<16} {'ready MB':>9} {'warm MB':>9} {'max MB':>9} {'end MB':>9} "
        f"{'end-warm':>9} {'max-warm':>9} {'end/warm':>9} {'max/warm':>9}"
    )
    worst = 0.0
    for pid in result.pids:
        if pid not in warm.rss:
            print(f"  {name(result, pid):<16} (not alive at warm-up: a replaced child)")
            continue
        seen = [s.rss[pid] for s in samples if pid in s.rss]
        w, mx = warm.rss[pid], max(seen)
        e = end.rss.get(pid, seen[-1])
        worst = max(worst, e - w, mx - w)
        print(row(name(result, pid), ready.rss.get(pid), w, mx, e))
    w, mx, e = warm.total, max(s.total for s in samples), end.total
    print(row("all together", ready.total, w, mx, e))
    together = max(e - w, mx - w)
    print(
        f"  target, flat within {TARGET_MB:.0f} MB after warm-up: all worker processes together "
        f"{'met' if together <= TARGET_MB else 'NOT met'} ({together:+.1f} MB at most, "
        f"{together / TARGET_MB:.2f}x the allowance); each process "
        f"{'met' if worst <= TARGET_MB else 'NOT met'} (largest {worst:+.1f} MB)"
    )
    if set(result.pids) != set(ready.rss):
        print(f"  note: the pool's children changed: pids {result.pids} over the run")
    print("  total worker RSS at shares of the drain (seconds / accepted: MB, vs warm):")
    shares = [x for x in MILESTONES if end.accepted >= args.n * x] or [end.accepted / args.n]
    print(
        "    "
        + "  ".join(
            f"{share:.0%} {s.seconds:.0f}s/{s.accepted}: {s.total:.1f} ({s.total - w:+.1f})"
            for share in shares
            for s in [at_share(samples, args.n, share)]
        )
    )
    verify(args.n, first, last, stats, per_id, sent, complete)


def row(label: str, ready: float | None, warm: float, mx: float, end: float) -> str:
    r = f"{ready:9.1f}" if ready is not None else f"{'-':>9}"
    return (
        f"  {label:<16} {r} {warm:9.1f} {mx:9.1f} {end:9.1f} {end - warm:+9.1f} "
        f"{mx - warm:+9.1f} {end / warm:8.3f}x {mx / warm:8.3f}x"
    )


def verify(
    n: int,
    first: int,
    last: int,
    stats: dict[str, int],
    per_id: dict[str, int],
    sent: int,
    complete: bool,
) -> None:
    """Every seeded email sent exactly once: the outbox's statuses and the server's per-id count.

    After a partial drain only "at most once" can be checked: no id accepted twice or unseeded.
    """
    wanted = {str(i) for i in range(first, last + 1)}
    twice = {mid: c for mid, c in per_id.items() if c > 1}
    missing = wanted - set(per_id)
    stray = set(per_id) - wanted
    counts = benchlib.status_counts(first, last)
    print(
        f"  exactly once: database {counts} for the {n} seeded rows; fake server accepted "
        f"{stats['accepted']} emails in {stats['requests']} requests "
        f"({stats['accepted'] / max(stats['requests'], 1):.0f} per request), "
        f"{len(wanted & set(per_id))} of {len(wanted)} outbox ids, {len(twice)} more than once, "
        f"{len(missing)} missing, {len(stray)} unexpected"
    )
    if not complete:
        if twice or stray:
            raise SystemExit(
                f"FAILED: duplicates {sorted(twice)[:10]}, unexpected {sorted(stray)[:10]}"
            )
        raise SystemExit("PARTIAL run: memory figures above cover only what was drained")
    if twice or missing or stray or sent != n or counts != {"sent": n} or stats["accepted"] != n:
        raise SystemExit(
            f"FAILED: duplicates {sorted(twice)[:10]}, missing {sorted(missing)[:10]}, "
            f"unexpected {sorted(stray)[:10]}, database {counts}, accepted {stats['accepted']}"
        )


if __name__ == "__main__":
    main()
