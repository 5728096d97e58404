"""CPU time per email of service.deliver_batch vs the floor: a cached render plus one pooled POST.

Seeds due step-1 drip emails (4 audiences) in a fresh PostgreSQL database, claims them in
batches of --batch and delivers them in this process through SendGridBackend (pooled httpx)
to the fake SendGrid (own process, 0 ms latency). CPU is this process's CPU time
(time.process_time: all threads). Per batch, interleaved so noise hits all alike, it runs:

  deliver_batch  quiet   root log level WARNING (the per-message INFO line is dropped)
  deliver_batch  logged  INFO lines written to a file, as the worker's --loglevel=INFO does
  floor          the same emails: lead_context + cached render_step (what compose renders),
                 the v3 payload as a plain dict, one POST each on a pooled httpx.Client with
                 the same thread-pool width, and nothing else
  floor+Mail     the same, with the payload built by the sendgrid Mail helper (as the
                 backend must), i.e. the floor of the mandated design

Also reported: components (render, Mail helper, POST) and PostgreSQL server CPU per email,
which is not in the ratio (it is another process).

    /work/venv/bin/python bench/bench_cpu_per_email.py [--n 4000] [--batch 200]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import benchlib
from fake_sendgrid import FakeSendGrid

DB = "nurture_bench_cpu"


def pg_cpu() -> float:
    return sum(benchlib._cpu_of(p) or 0.0 for p in benchlib.postgres_processes())


def plain_payload(email: Any) -> dict[str, Any]:
    """The same JSON the Mail helper produces, built directly."""
    body: dict[str, Any] = {
        "from": {"email": email.from_email, "name": email.from_name},
        "subject": email.subject,
        "personalizations": [{"to": [{"email": email.to_email}]}],
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
    }
    if email.headers:
        body["headers"] = dict(email.headers)
    if email.categories:
        body["categories"] = list(email.categories)
    if email.custom_args:
        body["custom_args"] = dict(email.custom_args)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="emails per variant")
    parser.add_argument("--batch", type=int, default=200, help="batch size (tick batch)")
    parser.add_argument("--concurrency", type=int, default=32, help="NURTURE_SEND_CONCURRENCY")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also cProfile 3 batches")
    parser.add_argument(
        "--profile-sort",
        default="cumulative",
        help="pstats order: cumulative (nurture's functions only) or tottime (everything)",
    )
    args = parser.parse_args()
    print(benchlib.describe_code())

    server = FakeSendGrid(latency=0.0)
    url = benchlib.create_database(DB)
    try:
        benchlib.configure(
            database_url=url,
            email_backend="sendgrid",
            sendgrid_api_key=server.api_key,
            sendgrid_api_host=server.url,
            send_concurrency=args.concurrency,
            tick_batch_size=args.batch,
            data_dir=tempfile.mkdtemp(prefix="nurture-bench-cpu-"),
        )
        run(args, server)
    finally:
        server.close()
        if not args.keep_db:
            benchlib.drop_database(DB)


def run(args: argparse.Namespace, server: FakeSendGrid) -> None:
    import httpx

    from nurture.core import clock
    from nurture.core.config import get_settings
    from nurture.core.db import session_scope
    from nurture.delivery import outbox, service
    from nurture.delivery.channels.base import OutgoingEmail
    from nurture.delivery.channels.sendgrid_api import SendGridBackend, build_mail
    from nurture.leads.models import Lead
    from nurture.messages import links
    from nurture.messages.contexts import lead_context
    from nurture.rendering.environment import get_renderer
    from nurture.sequences.files import read_sequence_file

    settings = get_settings()
    benchlib.prepare_schema()
    warm = args.batch
    total = 2 * args.n + warm
    benchlib.seed_due_marketing(total, due_sql="now() - interval '1 minute'")
    benchlib.analyze()

    backend = SendGridBackend(settings)
    lease = timedelta(seconds=settings.claim_lease_seconds)

    def claim() -> list[int]:
        with session_scope() as session:
            return outbox.claim_due(session, now=clock.now(), limit=args.batch, lease=lease)

    log_path = Path(tempfile.mkdtemp(prefix="nurture-bench-log-")) / "worker.log"
    handler = logging.FileHandler(log_path)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s: %(levelname)s/%(processName)s] %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)

    # --- the floor's inputs: the same step templates and a lead-like object per email
    renderer = get_renderer()
    specs = {
        a: read_sequence_file(settings.templates_dir / "sequences" / f"{a}.yml").steps[0]
        for a in benchlib.AUDIENCES
    }
    client = httpx.Client(
        headers={"Authorization": f"Bearer {server.api_key}"},
        limits=httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        ),
    )
    post_url = f"{settings.sendgrid_api_host}/v3/mail/send"
    pool = ThreadPoolExecutor(max_workers=args.concurrency)

    def render(i: int) -> OutgoingEmail:
        audience = benchlib.AUDIENCES[i % 4]
        s = specs[audience]
        lead = Lead(id=i, first_name="Robin", token_version=0, language="en")
        r = renderer.render_step(
            subject=s.subject,
            preheader=s.preheader,
            body_html=s.body_html,
            body_text=s.text,
            context=lead_context(lead, content="step-1"),
        )
        return OutgoingEmail(
            to_email=f"lead-{i}@example.com",
            from_email=settings.marketing_from_email,
            from_name=settings.marketing_from_name,
            subject=r.subject,
            html=r.html,
            text=r.text,
            headers={
                "List-Unsubscribe": f"<{links.absolute('/unsubscribe/x')}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            custom_args={"nurture_message_id": str(i)},
            categories=("marketing",),
        )

    def post(payload: dict[str, Any]) -> str:
        response = client.post(post_url, json=payload)
        assert response.status_code == 202
        return response.headers["X-Message-Id"]

    def floor_batch(start: int, count: int, *, mail_helper: bool) -> None:
        emails = [render(i) for i in range(start, start + count)]
        if mail_helper:
            payloads = [build_mail(e).get() for e in emails]
        else:
            payloads = [plain_payload(e) for e in emails]
        list(pool.map(post, payloads))

    # --- warm up everything once (template compile cache, connection pools, imports)
    service.deliver_batch(claim(), backend=backend)
    floor_batch(0, args.batch, mail_helper=True)
    floor_batch(0, args.batch, mail_helper=False)

    cpu = {"quiet": 0.0, "logged": 0.0, "floor": 0.0, "floor+Mail": 0.0}
    count = dict.fromkeys(cpu, 0)
    wall = dict.fromkeys(cpu, 0.0)
    pg = {"quiet": 0.0, "logged": 0.0}
    claim_cpu = 0.0
    claimed_total = 0
    k = 0
    while True:
        did = False
        for mode in ("quiet", "logged"):
            c0 = time.process_time()
            ids = claim()
            claim_cpu += time.process_time() - c0
            claimed_total += len(ids)
            if not ids:
                continue
            did = True
            root.setLevel(logging.INFO if mode == "logged" else logging.WARNING)
            p0 = pg_cpu()
            t0, c0 = time.perf_counter(), time.process_time()
            outcomes = service.deliver_batch(ids, backend=backend)
            cpu[mode] += time.process_time() - c0
            wall[mode] += time.perf_counter() - t0
            pg[mode] += pg_cpu() - p0
            root.setLevel(logging.WARNING)
            sent = sum(o.status == "sent" for o in outcomes)
            assert sent == len(ids), [o for o in outcomes if o.status != "sent"][:3]
            count[mode] += sent
        if not did:
            break
        n = min(args.batch, args.n - count["floor"])
        if n > 0:
            for mode in ("floor", "floor+Mail"):
                t0, c0 = time.perf_counter(), time.process_time()
                floor_batch(k * args.batch, n, mail_helper=(mode == "floor+Mail"))
                cpu[mode] += time.process_time() - c0
                wall[mode] += time.perf_counter() - t0
                count[mode] += n
        k += 1

    # --- components, on the same emails (single-threaded except POST)
    m = min(args.n, 1000)
    c0 = time.process_time()
    emails = [render(i) for i in range(m)]
    render_ms = (time.process_time() - c0) / m * 1e3
    c0 = time.process_time()
    payloads = [build_mail(e).get() for e in emails]
    mail_ms = (time.process_time() - c0) / m * 1e3
    c0 = time.process_time()
    [plain_payload(e) for e in emails]
    plain_ms = (time.process_time() - c0) / m * 1e3
    c0 = time.process_time()
    list(pool.map(post, payloads))
    post_ms = (time.process_time() - c0) / m * 1e3
    c0 = time.process_time()
    for p in payloads[:300]:
        post(p)
    post1_ms = (time.process_time() - c0) / 300 * 1e3
    from nurture.rendering.environment import html_to_text

    s = specs["chronic"]  # no hand-written text: the text part is derived per email
    ctx = lead_context(
        Lead(id=1, first_name="Robin", token_version=0, language="en"),
        content="step-1",
    )
    body = str(renderer.compile(s.body_html, html=True).render(ctx))
    c0 = time.process_time()
    for _ in range(300):
        html_to_text(body)
    h2t_ms = (time.process_time() - c0) / 300 * 1e3

    if args.profile:
        import cProfile
        import pstats

        benchlib.seed_due_marketing(
            args.batch * 3, prefix="prof", due_sql="now() - interval '1 minute'"
        )
        batches = [claim() for _ in range(3)]
        prof = cProfile.Profile()
        prof.enable()
        for ids in batches:
            service.deliver_batch(ids, backend=backend)
        prof.disable()
        print("profile of 3 deliver_batch calls (main thread only; sends run in the pool):")
        stats = pstats.Stats(prof).sort_stats(args.profile_sort)
        stats.print_stats(*([r"nurture/"] if args.profile_sort == "cumulative" else []), 40)

    pool.shutdown()
    client.close()
    backend.close()
    root.removeHandler(handler)
    status = benchlib.status_counts()

    per = {k2: cpu[k2] / count[k2] * 1e3 for k2 in cpu}
    print(
        f"CPU per email, batches of {args.batch}, {args.concurrency} sends in flight, "
        f"{count['quiet']} + {count['logged']} emails delivered, fake SendGrid at 0 ms"
    )
    print(
        f"  deliver_batch (quiet)   {per['quiet']:.3f} ms/email   "
        f"wall {count['quiet'] / wall['quiet']:.0f} emails/s   "
        f"+ PostgreSQL {pg['quiet'] / count['quiet'] * 1e3:.3f} ms/email"
    )
    print(
        f"  deliver_batch (INFO log){per['logged']:.3f} ms/email   "
        f"wall {count['logged'] / wall['logged']:.0f} emails/s   "
        f"+ PostgreSQL {pg['logged'] / count['logged'] * 1e3:.3f} ms/email"
    )
    print(
        f"  floor (render+POST)     {per['floor']:.3f} ms/email   "
        f"wall {count['floor'] / wall['floor']:.0f} emails/s"
    )
    print(
        f"  floor + Mail helper     {per['floor+Mail']:.3f} ms/email   "
        f"wall {count['floor+Mail'] / wall['floor+Mail']:.0f} emails/s"
    )
    print(
        f"  claim (tick side)       {claim_cpu / max(claimed_total, 1) * 1e3:.3f} ms/email "
        "(not in deliver_batch)"
    )
    print("ratios (the earlier target was <= 2x):")
    for mode in ("quiet", "logged"):
        print(f"  deliver_batch {mode:<6} / floor            {per[mode] / per['floor']:.2f}x")
        print(f"  deliver_batch {mode:<6} / floor+Mail helper {per[mode] / per['floor+Mail']:.2f}x")
    print(
        "components (ms/email, CPU): "
        f"render {render_ms:.3f} (text part derived from the body, done for the 3 of 4 first steps "
        f"without a text part: {h2t_ms:.3f}), Mail helper {mail_ms:.3f}, plain dict "
        f"{plain_ms:.3f}, pooled POST {post_ms:.3f} ({args.concurrency} threads) / "
        f"{post1_ms:.3f} (1 thread)"
    )
    print(
        f"target (issue #26): deliver_batch <= 0.4 ms/email: "
        f"{'met' if per['quiet'] <= 0.4 else 'NOT met'} ({per['quiet']:.3f} ms quiet)"
    )
    print(f"final statuses: {status}")


if __name__ == "__main__":
    main()
