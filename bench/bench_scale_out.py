"""Scale out: 1, 2 and 3 worker hosts (network namespaces) against one PostgreSQL and Redis.

Each "host" is a network namespace with its own UTS name, joined to the root namespace by a
veth pair on a bridge (10.77.0.1/24 in the root, 10.77.0.1N/24 in host N). It runs
`python -m nurture worker` (prefork, --procs children; host 1 also runs `nurture beat`).
PostgreSQL, Redis and the fake SendGrid (--latency, default 50 ms) stay in the root namespace
on 127.0.0.1; socat relays bound to 10.77.0.1 carry the hosts' connections to them.

Per host count: seed --n due drip emails (far-future due_at), warm the workers up, make every
row due in one UPDATE, and measure due-to-sent throughput. The fake server counts every outbox
id it accepts: the run fails if one arrived twice or one is missing, or if the database does
not show every row sent. It prints CPU per process group (PostgreSQL: this database's
backends, and apart the server's WAL writer and checkpointer), the machine's busy share, and the
database's cost per 1,000 emails (pg_stat_database deltas for the bench database; WAL bytes
from pg_current_wal_lsn(), which is cluster-wide, so other users of the server add to it).

Needs root (ip netns), socat, PostgreSQL and Redis on 127.0.0.1. Uses database `bench_scale`
and Redis db 10 (flushed); everything it creates is removed at the end, also on ^C.

    .venv/bin/python bench/bench_scale_out.py [--n 20000] [--hosts 1,2,3] [--procs 1]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
import psutil
from fake_sendgrid import FakeSendGrid

DB = "bench_scale"
BROKER_DB = 10
FAR = "timestamptz '2100-01-01 00:00:00+00'"
PREFIX = "nscale"  # every namespace, link and bridge this script creates starts with it
BRIDGE = f"{PREFIX}-br"
ROOT_ADDR = "10.77.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


# --------------------------------------------------------------------------- the network


class Network:
    """The bridge, one namespace + veth pair per host, and the socat relays; all removable."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.relays: list[subprocess.Popen[bytes]] = []
        self.made_bridge = False

    def up(self, hosts: int, ports: list[int]) -> None:
        self.remove_leftovers()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        self.made_bridge = True
        sh("ip", "addr", "add", f"{ROOT_ADDR}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for i in range(1, hosts + 1):
            ns, outer, inner = f"{PREFIX}-h{i}", f"{PREFIX}-r{i}", f"{PREFIX}-v{i}"
            sh("ip", "netns", "add", ns)
            self.hosts.append(ns)
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", inner, "netns", ns)
            sh("ip", "link", "set", outer, "master", BRIDGE)
            sh("ip", "link", "set", outer, "up")
            sh("ip", "-n", ns, "addr", "add", f"10.77.0.{10 + i}/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for port in ports:
            relay = subprocess.Popen(
                [
                    "socat",
                    f"TCP-LISTEN:{port},bind={ROOT_ADDR},fork,reuseaddr,backlog=1024",
                    f"TCP:127.0.0.1:{port},nodelay",
                ],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.relays.append(relay)
        for port in ports:  # the relays listen, and host 1 reaches them
            benchlib.wait_for(
                functools.partial(self.reaches, 1, port),
                timeout=10,
                what=f"relay on {ROOT_ADDR}:{port}",
            )

    def reaches(self, i: int, port: int) -> bool:
        """Host i opens a TCP connection to the root namespace's port."""
        probe = f"import socket; socket.create_connection(('{ROOT_ADDR}', {port}), 2).close()"
        argv = ["ip", "netns", "exec", self.hosts[i - 1], benchlib.python(), "-c", probe]
        return sh(*argv, check=False).returncode == 0

    def command(self, i: int, argv: list[str]) -> list[str]:
        """argv run in host i: its network namespace and its own host name."""
        name = f"{PREFIX}-host{i}"
        inner = " ".join(["exec", *[_quote(a) for a in argv]])
        return [
            "ip",
            "netns",
            "exec",
            self.hosts[i - 1],
            "unshare",
            "--uts",
            "sh",
            "-c",
            f"hostname {name} && {inner}",
        ]

    def relay_processes(self) -> list[psutil.Process]:
        out: list[psutil.Process] = []
        for relay in self.relays:
            try:
                p = psutil.Process(relay.pid)
                out += [p, *p.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return out

    def remove_leftovers(self) -> None:
        listed = sh("ip", "netns", "list", check=False).stdout.split()
        for ns in [n for n in listed if n.startswith(f"{PREFIX}-")]:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", BRIDGE, check=False)

    def down(self) -> None:
        for relay in self.relays:
            if relay.poll() is None:
                try:
                    import os

                    os.killpg(relay.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    relay.wait(5)
                except subprocess.TimeoutExpired:
                    relay.kill()
        self.relays = []
        for ns in self.hosts:
            sh("ip", "netns", "del", ns, check=False)  # takes its veth end (and the pair) along
        self.hosts = []
        if self.made_bridge:
            sh("ip", "link", "del", BRIDGE, check=False)
            self.made_bridge = False


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# --------------------------------------------------------------------------- database readings


def _postgres(mine: bool) -> list[psutil.Process]:
    """This database's backends (mine), or the server's own processes (WAL writer, checkpointer,
    background writer, autovacuum launcher); other databases' backends are in neither."""
    out = []
    for p in benchlib.postgres_processes():
        try:
            title = " ".join(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        backend = " 127.0.0.1" in title or " [local]" in title or "autovacuum worker" in title
        if mine and f" {DB} " in title:
            out.append(p)
        elif not mine and not backend:
            out.append(p)
    return out


def postgres_backends() -> list[psutil.Process]:
    return _postgres(mine=True)


def postgres_server() -> list[psutil.Process]:
    return _postgres(mine=False)


def pg_counters() -> dict[str, int]:
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().connect() as conn:
        row = conn.execute(
            text(
                "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted,"
                " pg_current_wal_lsn() - '0/0'::pg_lsn"
                " FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    keys = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted", "wal_bytes")
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def db_size_mb() -> float:
    from sqlalchemy import text

    from nurture.core.db import get_engine

    with get_engine().connect() as conn:
        size = conn.scalar(text("SELECT pg_database_size(current_database())"))
    return int(size) / 2**20


def row_sizes() -> str:
    """Bytes per row (table, indexes and TOAST, after VACUUM) of the tables sending grows."""
    from sqlalchemy import text

    from nurture.core.db import get_engine

    benchlib.analyze()
    lines = []
    with get_engine().connect() as conn:
        for table in ("leads", "enrollments", "messages", "message_attempts"):
            rows = conn.scalar(text(f"SELECT count(*) FROM {table}"))
            size = conn.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
            per = int(size) / max(int(rows), 1)
            lines.append(f"    {table:<17} {int(rows):7d} rows  {per:6.0f} bytes/row")
    return "\n".join(lines)


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    hosts: int
    n: int
    rate: float
    seconds: float
    busy: float
    used: dict[str, float]
    wall: float
    db: dict[str, int]
    requests: int


def run_hosts(
    k: int, args: argparse.Namespace, net: Network, server: FakeSendGrid, tmp: Path
) -> Result:
    settings = {
        "database_url": benchlib.db_url(DB).replace("127.0.0.1", ROOT_ADDR),
        "broker_url": f"redis://{ROOT_ADDR}:{REDIS_PORT}/{BROKER_DB}",
        "email_backend": "sendgrid",
        "sendgrid_api_key": server.api_key,
        "sendgrid_api_host": server.url.replace("127.0.0.1", ROOT_ADDR),
        "tick_seconds": 1,
        "tick_batch_size": args.batch,
        "send_concurrency": args.send_concurrency,
        "data_dir": tmp / "data",
    }
    env = benchlib.child_env(**settings)
    benchlib.flush_redis(broker_url())
    w_first, w_last = benchlib.seed_due_marketing(args.warmup * k, prefix=f"w{k}", due_sql=FAR)
    first, last = benchlib.seed_due_marketing(args.n, prefix=f"s{k}", due_sql=FAR)
    benchlib.analyze()

    logdir = tmp / f"hosts-{k}"
    logdir.mkdir()
    workers: list[benchlib.Child] = []
    beat: benchlib.Child | None = None
    try:
        for i in range(1, k + 1):
            argv = [benchlib.python(), "-m", "nurture", "worker", "--pool", "prefork"]
            argv += ["--concurrency", str(args.procs)]
            workers.append(
                benchlib.spawn(
                    f"worker-host{i}", net.command(i, argv), env=env, cwd=logdir, logdir=logdir
                )
            )
        for w in workers:
            benchlib.wait_ready(w, timeout=120)
        beat = benchlib.spawn(
            "beat",
            net.command(1, [benchlib.python(), "-m", "nurture", "beat"]),
            env=env,
            cwd=logdir,
            logdir=logdir,
        )
        beat_child = beat
        benchlib.wait_for(
            lambda: "Starting..." in beat_child.log_text(), timeout=60, what="beat start"
        )
        # warm-up: every worker process renders once and opens its pools
        benchlib.make_due(w_first, w_last)
        drain(w_first, w_last, None, 180, workers)
        quiet0 = pg_counters()
        time.sleep(11)  # idle backends flush their statistics within 10 s
        server.reset()
        before = pg_counters()
        # WAL is cluster-wide: what the rest of the server writes while this one is idle
        background_wal = (before["wal_bytes"] - quiet0["wal_bytes"]) / 11
        me = psutil.Process()
        groups: dict[str, Any] = {f"worker host{i + 1}": w.tree for i, w in enumerate(workers)}
        groups.update(
            {
                "beat (host1)": beat.tree,
                "fake SendGrid": lambda: [psutil.Process(server.pid)],
                "PostgreSQL": postgres_backends,
                "PG WAL/ckpt": postgres_server,
                "Redis": benchlib.redis_processes,
                "socat relays": net.relay_processes,
                "bench driver": lambda: [me],
            }
        )
        meter = benchlib.CpuMeter(groups)
        meter.start()
        t0 = benchlib.make_due(first, last)
        drain(first, last, meter, max(300.0, args.n / 20), workers)
        used = meter.stop()
        stats = server.stats()
        per_id = server.per_id()
    finally:
        if beat is not None:
            benchlib.stop(beat)
        for w in workers:
            benchlib.stop(w, timeout=60)
    time.sleep(1.5)  # exited backends have flushed their statistics
    after = pg_counters()

    sent, lo, hi = benchlib.sent_window(first, last)
    assert hi is not None
    assert lo is not None
    wanted = {str(i) for i in range(first, last + 1)}
    twice = {mid: c for mid, c in per_id.items() if c > 1}
    missing = wanted - set(per_id)
    stray = set(per_id) - wanted
    print(
        f"\n{k} host(s): {args.n} emails due-to-sent in {hi - t0:.1f}s = "
        f"{args.n / (hi - t0):.0f} emails/s (first sent {lo - t0:.2f}s after due; "
        f"{stats['requests']} requests, {stats['accepted']} emails accepted)"
    )
    print(
        f"  exactly once: {len(wanted & set(per_id))} of {len(wanted)} outbox ids accepted, "
        f"{len(twice)} more than once, {len(missing)} missing, {len(stray)} unexpected; "
        f"database: {sent} sent {benchlib.status_counts(first, last)}"
    )
    print(meter.report(used, per=args.n))
    if twice or missing or stray or sent != args.n:
        raise SystemExit(
            f"FAILED: duplicates {sorted(twice)[:10]}, missing {sorted(missing)[:10]}, "
            f"unexpected {sorted(stray)[:10]}, sent {sent} of {args.n}"
        )
    db = {key: after[key] - before[key] for key in after}
    db["wal_background"] = int(background_wal * (time.time() - t0))
    return Result(
        k,
        args.n,
        args.n / (hi - t0),
        hi - t0,
        meter.system["busy_share"],
        used,
        meter.wall,
        db,
        stats["requests"],
    )


def drain(
    first: int,
    last: int,
    meter: benchlib.CpuMeter | None,
    timeout: float,
    children: list[benchlib.Child],
) -> None:
    n = last - first + 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if meter is not None:
            meter.poll()
        for child in children:
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} died:\n{child.log_text()[-3000:]}")
        if benchlib.sent_window(first, last)[0] >= n:
            return
    raise TimeoutError(f"not all {n} sent in {timeout:.0f}s: {benchlib.status_counts(first, last)}")


def broker_url(host: str = "127.0.0.1") -> str:
    return f"redis://{host}:{REDIS_PORT}/{BROKER_DB}"


# --------------------------------------------------------------------------- summary


def summary(results: list[Result]) -> None:
    base = results[0].rate
    print("\nsummary (due -> accepted by the fake SendGrid)")
    print("  hosts  emails/s  vs 1 host  machine busy  worker cores  emails/s per worker core")
    for r in results:
        worker_cpu = sum(v for k, v in r.used.items() if k.startswith("worker host"))
        cores = worker_cpu / r.wall
        print(
            f"  {r.hosts:5d}  {r.rate:8.0f}  {r.rate / base:8.2f}x  {r.busy * 100:11.0f}%"
            f"  {cores:12.2f}  {r.n / worker_cpu:10.0f}"
        )
    print("\n  database cost per 1,000 emails (deltas over the measured window)")
    print(
        "  hosts  commits  rows inserted  rows updated  rows deleted"
        "  WAL KiB (cluster)  minus idle rate"
    )
    for r in results:
        per = 1000 / r.n
        d = r.db
        print(
            f"  {r.hosts:5d}  {d['xact_commit'] * per:7.1f}  {d['tup_inserted'] * per:13.0f}"
            f"  {d['tup_updated'] * per:12.0f}  {d['tup_deleted'] * per:12.0f}"
            f"  {d['wal_bytes'] * per / 1024:17.0f}"
            f"  {(d['wal_bytes'] - d['wal_background']) * per / 1024:15.0f}"
        )
    print("\n  what bound each run")
    for r in results:
        shares = {k: v / r.wall for k, v in r.used.items()}
        workers = sum(v for k, v in shares.items() if k.startswith("worker host"))
        parts = {
            "workers": workers,
            "database (PostgreSQL)": shares["PostgreSQL"] + shares["PG WAL/ckpt"],
            "fake SendGrid": shares["fake SendGrid"],
            "socat relays": shares["socat relays"],
            "Redis": shares["Redis"],
        }
        top = sorted(parts.items(), key=lambda kv: -kv[1])
        verdict = (
            "CPU-bound: the machine's cores are saturated, more hosts only share them"
            if r.busy > 0.85
            else "not CPU-bound"
        )
        print(
            f"  {r.hosts} host(s): {verdict}; cores used: "
            + ", ".join(f"{name} {v:.2f}" for name, v in top)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="emails per host count")
    parser.add_argument("--hosts", default="1,2,3", help="comma list of host counts to run")
    parser.add_argument("--procs", type=int, default=1, help="worker processes per host")
    parser.add_argument("--send-concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=200, help="NURTURE_TICK_BATCH_SIZE")
    parser.add_argument("--latency", type=float, default=0.05, help="fake SendGrid latency, s")
    parser.add_argument("--warmup", type=int, default=400, help="warm-up emails per host")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    for tool in ("ip", "socat", "unshare"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed on the PATH")
    counts = [int(h) for h in args.hosts.split(",")]
    print(benchlib.describe_code())
    print(
        f"scale out: {counts} host(s) x {args.procs} worker process(es), fake SendGrid latency "
        f"{args.latency * 1e3:.0f} ms, {psutil.cpu_count()} cores, Redis db {BROKER_DB}"
    )

    net = Network()
    server: FakeSendGrid | None = None
    cleaned = False

    def cleanup() -> None:
        nonlocal cleaned
        if cleaned:
            return
        cleaned = True
        if server is not None:
            server.close()
        net.down()
        benchlib.flush_redis(broker_url())
        if not args.keep_db:
            benchlib.drop_database(DB)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    try:
        server = FakeSendGrid(latency=args.latency)
        port = int(server.url.rsplit(":", 1)[1])
        net.up(max(counts), [POSTGRES_PORT, REDIS_PORT, port])
        url = benchlib.create_database(DB)
        benchlib.configure(database_url=url, broker_url=broker_url())
        benchlib.prepare_schema()
        results = []
        with benchlib.tempdir("nurture-bench-scale-") as tmp:
            for k in counts:
                results.append(run_hosts(k, args, net, server, tmp))
                benchlib.configure(database_url=url, broker_url=broker_url())
        print(f"\n  database size after {len(counts)} runs: {db_size_mb():.0f} MiB")
        print(row_sizes())
        summary(results)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
