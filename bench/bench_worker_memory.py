"""Worker memory while draining a large outbox: RSS of `python -m nurture worker` over time.

Seeds --n due step-1 drip emails (sending each plans the next step, so the outbox grows by
--n rows too), starts the real worker (prefork, --procs children) and beat (tick every 1 s)
on Redis db 14, with NURTURE_EMAIL_BACKEND=sendgrid pointed at the fake SendGrid (own process,
0 ms latency), and samples the RSS of the worker's main process and each pool child with
psutil every --interval seconds until every email is sent (or --max-seconds pass).

Reports, per process and in total: RSS when the worker was ready (before the first email),
after the first 5% were sent (imports, compiled templates and pools in place), and at the end;
growth in MB (target: flat within 50 MB) and the ratio end / start.

    /work/venv/bin/python bench/bench_worker_memory.py [--n 100000] [--csv rss.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import benchlib
from fake_sendgrid import FakeSendGrid

DB = "nurture_bench_mem"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--procs", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--max-seconds", type=float, default=900, help="stop sampling after")
    parser.add_argument("--csv", type=Path, help="write every sample here")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(benchlib.describe_code())

    server = FakeSendGrid(latency=0.0)
    benchlib.run_isolated(DB, "nurture-bench-mem-", server, args, run)


def run(args: argparse.Namespace, server: FakeSendGrid, url: str, tmp: Path) -> None:
    settings = {
        "database_url": url,
        "broker_url": benchlib.BROKER_URL,
        "email_backend": "sendgrid",
        "sendgrid_api_key": server.api_key,
        "sendgrid_api_host": server.url,
        "tick_seconds": 1,
        "data_dir": tmp / "data",
    }
    benchlib.configure(**settings)
    benchlib.prepare_schema()
    first, last = benchlib.seed_due_marketing(args.n, prefix="mem", due_sql="now()")
    benchlib.analyze()
    env = benchlib.child_env(**settings)

    # the rows are already due: the worker must be up before beat starts claiming them
    stack = benchlib.start_stack(env=env, logdir=tmp, procs=args.procs, beat=False)
    samples: list[tuple[float, int, dict[int, float]]] = []
    try:
        main_proc = stack.worker.ps
        children = main_proc.children()

        def sample(sent: int) -> None:
            rss = {p.pid: p.memory_info().rss / 2**20 for p in [main_proc, *children]}
            samples.append((time.perf_counter() - t0, sent, rss))

        t0 = time.perf_counter()
        sample(0)
        beat = benchlib.spawn(
            "beat", [benchlib.python(), "-m", "nurture", "beat"], env=env, cwd=tmp, logdir=tmp
        )
        stack.beat = beat
        sent = 0
        last_check = 0.0
        while time.perf_counter() - t0 < args.max_seconds:
            time.sleep(args.interval)
            if stack.worker.proc.poll() is not None:
                raise RuntimeError(f"worker died:\n{stack.worker.log_text()[-3000:]}")
            now = time.perf_counter()
            if now - last_check >= 5 or sent >= args.n * 0.9:
                sent = benchlib.sent_window(first, last)[0]
                last_check = now
            sample(sent)
            if sent >= args.n:
                break
        if set(main_proc.children()) != set(children):
            print("note: the pool's children changed during the run")
    finally:
        stack.stop()
    wall = samples[-1][0]
    sent = samples[-1][1]
    if args.csv:
        pids = list(samples[0][2])
        with args.csv.open("w") as f:
            f.write("seconds,sent," + ",".join(f"rss_mb_{p}" for p in pids) + ",total\n")
            for t, sent, rss in samples:
                f.write(
                    f"{t:.1f},{sent},"
                    + ",".join(f"{rss[p]:.1f}" for p in pids)
                    + f",{sum(rss.values()):.1f}\n"
                )

    warm = next((x for x in samples if x[1] >= args.n * 0.05), samples[-1])
    start, end = samples[0], samples[-1]
    done = "all" if sent >= args.n else f"ONLY {sent} of"
    print(
        f"worker memory: {done} {args.n} emails sent in {wall:.0f}s "
        f"({sent / wall:.0f} emails/s), {args.procs} prefork children, fake SendGrid 0 ms, "
        f"{len(samples)} samples every {args.interval}s"
    )
    names = {main_proc.pid: "main"} | {p.pid: f"child {i + 1}" for i, p in enumerate(children)}
    print(
        f"  {'process':<10} {'ready MB':>9} {'warm MB':>9} {'end MB':>9} {'max MB':>9} "
        f"{'growth':>9} {'warm->end':>10} {'end/ready':>10}"
    )
    for pid, name in names.items():
        s, w, e = start[2][pid], warm[2][pid], end[2][pid]
        mx = max(x[2][pid] for x in samples)
        print(
            f"  {name:<10} {s:9.1f} {w:9.1f} {e:9.1f} {mx:9.1f} {e - s:+9.1f} {e - w:+10.1f} "
            f"{e / s:9.2f}x"
        )
    s, w, e = (sum(x[2].values()) for x in (start, warm, end))
    mx = max(sum(x[2].values()) for x in samples)
    print(
        f"  {'total':<10} {s:9.1f} {w:9.1f} {e:9.1f} {mx:9.1f} {e - s:+9.1f} {e - w:+10.1f} "
        f"{e / s:9.2f}x"
    )
    worst = max(end[2][pid] - start[2][pid] for pid in names)
    worst_warm = max(end[2][pid] - warm[2][pid] for pid in names)
    print(
        f"  target, each worker process flat within 50 MB from start to end: "
        f"{'met' if worst <= 50 else 'NOT met'} (largest growth {worst:+.1f} MB per process, "
        f"{worst_warm:+.1f} MB after warm-up; all processes together {e - s:+.1f} MB)"
    )
    print("  over time (total RSS MB at each tenth of the run):")
    step = max(len(samples) // 10, 1)
    print("    " + "  ".join(f"{t:.0f}s/{n}:{sum(r.values()):.0f}" for t, n, r in samples[::step]))


if __name__ == "__main__":
    main()
