"""A 10,000-event SendGrid batch through the real `nurture web`, and what other requests feel.

On a fresh PostgreSQL database the script measures, in one run:

- **baseline**: the same rows inserted straight into `delivery_events` with Core, in chunks
  of 500 (no HTTP, no signature, no parsing, no matching to emails);
- **webhook**: the batch, signed like SendGrid's Signed Event Webhook, posted to
  `/webhooks/sendgrid` on `nurture web` (one uvicorn process): the body limit, signature
  check, parse, per-event checks and chunked store;
- **health checks**: `GET /healthz` latency with the server idle, then while the batch is
  being stored (one client loop, back to back).

    python bench/bench_webhook_batch.py [--events 10000] [--rounds 3] [--keep-db]

Needs PostgreSQL (BENCH_ADMIN_URL) and Redis (BENCH_BROKER_URL) like the other benchmarks.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import benchlib
import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

DB_NAME = "nurture_bench_webhook"
CHUNK = 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_batch(n: int, tag: str) -> list[dict[str, Any]]:
    """Events with the fields SendGrid sends for each kind."""
    now = int(time.time())
    kinds = ["processed", "delivered", "open", "click", "bounce", "deferred", "dropped"]
    batch = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        event: dict[str, Any] = {
            "email": f"{tag}-{i}@example.com",
            "timestamp": now - i % 600,
            "smtp-id": f"<{tag}{i}.dfd.64b469@ismtpd-555>",
            "event": kind,
            "category": ["drip"],
            "sg_event_id": f"{tag}-{i:07d}-ZGVsaXZlcmVkLTAtMjI0NjYzMDAtTFJ6WGxfTkhTdE9HaFE0",
            "sg_message_id": f"{tag}{i}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
            "nurture_message_id": str(1_000_000 + i),
        }
        if kind == "delivered":
            event["response"] = "250 2.0.0 OK  1600112492 x12si345678qkm.99 - gsmtp"
        elif kind in ("open", "click"):
            event["useragent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
            event["ip"] = "192.0.2.10"
            if kind == "click":
                event["url"] = "https://clinic.example/articles/leg-numbness?utm_source=email"
        elif kind == "bounce":
            event.update(
                reason="550 5.1.1 The email account that you tried to reach does not exist.",
                status="5.1.1",
                type="bounce",
            )
        elif kind == "deferred":
            event.update(response="400 try again later", attempt="5")
        elif kind == "dropped":
            event["reason"] = "Bounced Address"
        batch.append(event)
    return batch


class Signer:
    """Signs bodies the way SendGrid's Signed Event Webhook does."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: str) -> dict[str, str]:
        from nurture.delivery import events

        stamp = str(int(time.time()))
        signature = self.key.sign((stamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        return {
            events.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            events.TIMESTAMP_HEADER: stamp,
            "Content-Type": "application/json",
        }


def bare_insert(batch: list[dict[str, Any]]) -> float:
    """Insert the batch's rows with Core in chunks; return seconds."""
    from sqlalchemy import insert

    from nurture.core.db import get_engine
    from nurture.outbox.models import DeliveryEvent

    now = datetime.now(UTC)
    rows = [
        {
            "provider_event_id": e["sg_event_id"],
            "message_id": None,
            "event": e["event"],
            "occurred_at": datetime.fromtimestamp(e["timestamp"], UTC),
            "received_at": now,
            "payload": e,
        }
        for e in batch
    ]
    started = time.perf_counter()
    with get_engine().begin() as conn:
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(DeliveryEvent), rows[start : start + CHUNK])
    return time.perf_counter() - started


def probe(client: httpx.Client, url: str, stop: threading.Event | None, n: int) -> list[float]:
    """GET `url` back to back, n times or until `stop` is set; return each latency.

    The request in flight when `stop` is set counts too: on a blocked event loop it is the
    one that waited for the whole batch.
    """
    latencies: list[float] = []
    while (stop is None and len(latencies) < n) or (stop is not None and not stop.is_set()):
        started = time.perf_counter()
        client.get(url)
        latencies.append(time.perf_counter() - started)
    return latencies


def webhook_round(base: str, batch: list[dict[str, Any]], signer: Signer) -> dict[str, Any]:
    body = json.dumps(batch)
    headers = signer.headers(body)
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def post() -> None:
        with httpx.Client(timeout=300) as poster:
            started = time.perf_counter()
            outcome["response"] = poster.post(
                f"{base}/webhooks/sendgrid", content=body, headers=headers
            )
            outcome["seconds"] = time.perf_counter() - started
        done.set()

    with httpx.Client(timeout=60) as client:
        thread = threading.Thread(target=post)
        thread.start()
        latencies = probe(client, f"{base}/healthz", done, 0)
        thread.join()
    response = outcome["response"]
    if response.status_code != 200 or response.json()["stored"] != len(batch):
        raise SystemExit(f"webhook answered {response.status_code}: {response.text[:500]}")
    return {"seconds": outcome["seconds"], "bytes": len(body), "during": latencies}


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    return (
        f"n={len(ms):4d}  p50 {benchlib.pct(ms, 0.50):7.1f} ms  "
        f"p99 {benchlib.pct(ms, 0.99):7.1f} ms  max {ms[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(benchlib.describe_code())
    database = benchlib.create_database(DB_NAME)
    benchlib.flush_redis()
    signer = Signer()
    settings = {
        "database_url": database,
        "broker_url": benchlib.BROKER_URL,
        "sendgrid_webhook_public_key": signer.public,
        "tick_seconds": 3600,  # no beat runs here; keep the heartbeat above fresh
    }
    benchlib.configure(**settings)
    benchlib.prepare_schema()
    from sqlalchemy import delete

    from nurture.core.db import get_engine, session_scope
    from nurture.outbox.models import DeliveryEvent, Heartbeat

    with session_scope() as session:  # so /healthz answers 200, as in production
        session.merge(Heartbeat(name="tick", beat_at=datetime.now(UTC)))

    baseline: list[float] = []
    rounds: list[dict[str, Any]] = []
    idle: list[float] = []
    with benchlib.tempdir("bench-webhook-") as tmp:
        port = free_port()
        child = benchlib.spawn(
            "web",
            [sys.executable, "-m", "nurture", "web", "--port", str(port), "--workers", "1"],
            env=benchlib.child_env(**settings),
            cwd=tmp,
            logdir=tmp,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            benchlib.wait_for(
                lambda: httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503),
                timeout=60,
                what="nurture web",
            )
            with httpx.Client(timeout=60) as client:
                probe(client, f"{base}/healthz", None, 50)  # warm-up
                idle = probe(client, f"{base}/healthz", None, 300)
            for r in range(args.rounds):
                batch = make_batch(args.events, f"r{r}")
                baseline.append(bare_insert(batch))
                with get_engine().begin() as conn:
                    conn.execute(delete(DeliveryEvent))
                rounds.append(webhook_round(base, batch, signer))
                with get_engine().begin() as conn:
                    conn.execute(delete(DeliveryEvent))
        finally:
            benchlib.stop(child)
    benchlib.flush_redis()
    if not args.keep_db:
        benchlib.drop_database(DB_NAME)

    bare = statistics.median(baseline)
    hook = statistics.median(r["seconds"] for r in rounds)
    during = [x for r in rounds for x in r["during"]]
    mb = rounds[0]["bytes"] / 1024 / 1024
    print(f"batch: {args.events} events, {mb:.1f} MB, {args.rounds} rounds (medians)")
    print(f"  baseline: bare insert of the rows  {bare:6.2f} s  {args.events / bare:8.0f} events/s")
    print(f"  webhook: POST /webhooks/sendgrid   {hook:6.2f} s  {args.events / hook:8.0f} events/s")
    print(f"  ratio webhook / bare insert: {hook / bare:.2f}x")
    print(f"  GET /healthz idle:           {summary(idle)}")
    print(f"  GET /healthz while storing:  {summary(during)}")
    print(
        "  ratio while storing / idle: "
        f"p50 {benchlib.pct(during, 0.5) / benchlib.pct(idle, 0.5):.2f}x, "
        f"p99 {benchlib.pct(during, 0.99) / benchlib.pct(idle, 0.99):.2f}x, "
        f"max during / batch time {max(during) / hook:.3f}"
    )


if __name__ == "__main__":
    main()
