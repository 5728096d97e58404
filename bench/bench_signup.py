"""Signups per second through the real `nurture web` on PostgreSQL, against a bare endpoint.

Both servers run as uvicorn with the same number of worker processes on this machine; a load
generator (httpx, asyncio) posts N distinct signups with C in flight and records each
request's latency. The bare endpoint parses and validates the same model and answers 202 with
no database or broker, so the ratio shows what storing a lead, its consent record and its
confirmation email (one transaction) plus the broker nudge cost on top of the framework.

    python bench/bench_signup.py [--requests 3000] [--concurrency 32] [--workers 2]

Needs PostgreSQL (BENCH_ADMIN_URL) and Redis (BENCH_BROKER_URL) like the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from pathlib import Path

import benchlib
import httpx

DB_NAME = "nurture_bench_signup"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, n: int, concurrency: int, tag: str) -> tuple[float, list[float], int]:
    """Post n signups with `concurrency` in flight; return (seconds, latencies, non-202s)."""
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "email": f"{tag}-{i}@example.com",
                    "first_name": "Bench",
                    "numbness_type": benchlib.AUDIENCES[i % 4],
                    "timezone": "Europe/Berlin",
                    "consent": True,
                }
                started = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 202

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


def serve(
    argv: list[str], env: dict[str, str], port: int, name: str, logdir: Path, cwd: Path
) -> benchlib.Child:
    child = benchlib.spawn(name, argv, env=env, cwd=cwd, logdir=logdir)

    def up() -> bool:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{child.log_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    benchlib.wait_for(up, timeout=60, what=name)
    return child


def measure(label: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    asyncio.run(load(url, min(200, args.requests), args.concurrency, f"warm-{label}"))
    seconds, latencies, failures = asyncio.run(
        load(url, args.requests, args.concurrency, f"run-{label}")
    )
    if failures:
        raise SystemExit(f"{label}: {failures} requests did not answer 202")
    return {
        "rate": args.requests / seconds,
        "p50": benchlib.pct(latencies, 0.50) * 1000,
        "p99": benchlib.pct(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    database = benchlib.create_database(DB_NAME)
    benchlib.flush_redis()
    settings = {
        "database_url": database,
        "broker_url": benchlib.BROKER_URL,
        "signup_rate_per_ip": "1000000/minute",
        "signup_rate_per_address": "1000000/minute",
        "signup_rate_per_network_daily": "1000000/day",
    }
    benchlib.configure(**settings)
    benchlib.prepare_schema()
    results: dict[str, dict[str, float]] = {}
    with benchlib.tempdir("bench-signup-") as tmp:
        env = benchlib.child_env(**settings)
        uvicorn = [
            sys.executable,
            "-m",
            "uvicorn",
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ]
        port = free_port()
        bare = serve(
            [*uvicorn, "--port", str(port), "bare_signup_app:app"],
            env,
            port,
            "bare",
            tmp,
            benchlib.BENCH,
        )
        try:
            results["bare"] = measure("bare", f"http://127.0.0.1:{port}/api/subscribe", args)
        finally:
            benchlib.stop(bare)
        port = free_port()
        real = serve(
            [
                sys.executable,
                "-m",
                "nurture",
                "web",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env,
            port,
            "nurture",
            tmp,
            tmp,
        )
        try:
            results["nurture"] = measure("nurture", f"http://127.0.0.1:{port}/api/subscribe", args)
        finally:
            benchlib.stop(real)
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.connect() as conn:
        leads = conn.scalar(text("SELECT count(*) FROM leads"))
        emails = conn.scalar(text("SELECT count(*) FROM messages"))
    engine.dispose()
    benchlib.drop_database(DB_NAME)
    benchlib.flush_redis()
    base, ours = results["bare"], results["nurture"]
    print(
        f"signups: {args.requests} requests, {args.concurrency} in flight, "
        f"{args.workers} server processes, 2 cores shared with PostgreSQL and the client"
    )
    print(
        f"  bare FastAPI endpoint  {base['rate']:7.0f}/s  p50 {base['p50']:6.1f} ms  "
        f"p99 {base['p99']:6.1f} ms"
    )
    print(
        f"  nurture /api/subscribe {ours['rate']:7.0f}/s  p50 {ours['p50']:6.1f} ms  "
        f"p99 {ours['p99']:6.1f} ms"
    )
    print(
        f"  ratio nurture/bare: throughput {ours['rate'] / base['rate']:.2f}x, "
        f"p50 {ours['p50'] / base['p50']:.2f}x, p99 {ours['p99'] / base['p99']:.2f}x"
    )
    print(f"  stored: {leads} leads, {emails} confirmation emails (warm-up included)")


if __name__ == "__main__":
    main()
