"""SendGrid transports: the package's own client (new connection per request) vs pooled httpx.

Posts the same rendered email (payload built with the sendgrid Mail helper, as both backends
do) N times with bounded concurrency against the local fake SendGrid (in its own process), at
each injected latency, over HTTPS (self-signed certificate, as the real API is HTTPS only, so
a new connection per request pays a TLS handshake) and over plain HTTP. Rounds alternate
the order of the two transports; the figures are the median over rounds, and the ratio
pooled/package is taken within each round (same conditions).

    /work/venv/bin/python bench/bench_sendgrid_transport.py [--n 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import benchlib
from fake_sendgrid import FakeSendGrid


def run_once(backend, email, n: int, concurrency: int, server: FakeSendGrid) -> dict[str, float]:  # type: ignore[no-untyped-def]
    server.reset()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        cpu0, t0 = time.process_time(), time.perf_counter()
        ids = list(pool.map(lambda _: backend.send(email), range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = server.stats()
    assert stats["accepted"] == n, (stats, n)
    assert all(ids)
    return {"rate": n / wall, "cpu_ms": cpu / n * 1e3, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="POSTs per transport per round")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--latencies", default="0,0.05", help="server latencies, seconds")
    parser.add_argument("--modes", default="https,http", help="https (as the real API), http")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(benchlib.describe_code())

    summary = []
    for mode in args.modes.split(","):
        summary += run_mode(args, tls=(mode == "https"))

    print("\nsummary (median of rounds)")
    print(
        f"  {'scheme':>6} {'latency':>8} {'package/s':>10} {'pooled/s':>10} {'pooled/package':>15}"
    )
    for row in summary:
        print(
            f"  {row['mode']:>6} {row['latency_ms']:6.0f}ms {row['package']:10.0f} "
            f"{row['pooled']:10.0f} {row['ratio']:14.2f}x"
        )


def run_mode(args: argparse.Namespace, *, tls: bool) -> list[dict[str, float | str]]:
    mode = "https" if tls else "http"
    with FakeSendGrid(latency=0.0, tls=tls) as server:
        if server.cert is not None:
            os.environ["SSL_CERT_FILE"] = str(server.cert)  # urllib and httpx both honour it
        benchlib.configure(
            email_backend="sendgrid",
            sendgrid_api_key=server.api_key,
            sendgrid_api_host=server.url,
            send_concurrency=args.concurrency,
        )
        from nurture.core.config import get_settings
        from nurture.delivery.channels.sendgrid_api import SendGridBackend
        from nurture.delivery.channels.sendgrid_package import SendGridPackageBackend

        settings = get_settings()
        backends = {
            "package": SendGridPackageBackend(settings),
            "pooled": SendGridBackend(settings),
        }
        email = benchlib.sample_email()
        print(
            f"\n=== {mode}: {args.n} POSTs x {args.rounds} rounds per transport, "
            f"{args.concurrency} in flight, payload {len(str(email.html)) + len(email.text)} "
            f"chars of body; fake server pid {server.pid} ({server.url})"
        )
        summary: list[dict[str, float | str]] = []
        for latency in [float(x) for x in args.latencies.split(",")]:
            server.set_latency(latency)
            for backend in backends.values():  # warm up: imports, pools, server threads
                run_once(backend, email, min(200, args.n), args.concurrency, server)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
            ratios = []
            for r in range(args.rounds):
                order = list(backends) if r % 2 == 0 else list(reversed(backends))
                this = {
                    name: run_once(backends[name], email, args.n, args.concurrency, server)
                    for name in order
                }
                for name, res in this.items():
                    results[name].append(res)
                ratios.append(this["pooled"]["rate"] / this["package"]["rate"])
            ceiling = args.concurrency / latency if latency else float("inf")
            print(f"latency {latency * 1e3:.0f} ms (ceiling {ceiling:.0f}/s if latency-bound):")
            row: dict[str, float | str] = {"mode": mode, "latency_ms": latency * 1e3}
            for name in backends:
                rate = benchlib.median([x["rate"] for x in results[name]])
                cpu = benchlib.median([x["cpu_ms"] for x in results[name]])
                row[name] = rate
                print(f"  {name:<8} {rate:8.0f} emails/s   client CPU {cpu:.3f} ms/email")
            row["ratio"] = benchlib.median(ratios)
            print(
                f"  ratio pooled/package: {row['ratio']:.2f}x "
                f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})"
            )
            summary.append(row)
        backends["pooled"].close()  # type: ignore[attr-defined]
        os.environ.pop("SSL_CERT_FILE", None)
    return summary


if __name__ == "__main__":
    main()
