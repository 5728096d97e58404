"""`/metrics` in Prometheus' text format, computed from the database at scrape time.

Workers are separate processes, so in-process counters would each see a slice; the outbox
and its attempt log are the one place every send is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nurture.core import clock
from nurture.core.db import session_scope
from nurture.delivery.stats import snapshot

router = APIRouter()


class OutboxCollector(Collector):
    """Reads one snapshot per scrape."""

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family."""
        with session_scope() as session:
            snap = snapshot(session, now=clock.now())
        statuses = GaugeMetricFamily(
            "nurture_messages", "Outbox rows by status.", labels=["status"]
        )
        for status, count in sorted(snap.by_status.items()):
            statuses.add_metric([status], count)
        yield statuses
        sent = snap.by_status.get("sent", 0)
        failed = snap.by_status.get("failed", 0)
        yield CounterMetricFamily("nurture_emails_sent", "Emails the provider accepted.", sent)
        yield CounterMetricFamily("nurture_emails_failed", "Emails given up on.", failed)
        retried = CounterMetricFamily(
            "nurture_send_retries",
            "Send attempts that will be retried, by reason.",
            labels=["reason"],
        )
        for (outcome, reason), count in sorted(snap.attempts.items()):
            if outcome == "retry":
                retried.add_metric([reason], count)
        yield retried
        yield GaugeMetricFamily(
            "nurture_due_backlog", "Emails due now, not yet claimed.", snap.due_now
        )
        yield GaugeMetricFamily(
            "nurture_oldest_due_age_seconds",
            "Age of the oldest email that is due and not yet claimed.",
            snap.oldest_due_age_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "nurture_tick_duration_seconds",
            "How long the last tick took.",
            snap.last_tick_seconds or 0.0,
        )
        if snap.last_tick_at is not None:
            yield GaugeMetricFamily(
                "nurture_last_tick_timestamp_seconds",
                "When the last tick ran (Unix time).",
                snap.last_tick_at.timestamp(),
            )


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Serve the metrics."""
    registry = CollectorRegistry()
    registry.register(OutboxCollector())
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
