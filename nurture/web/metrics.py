"""`/metrics` in Prometheus' text format, computed from the database at scrape time.

Opt-in: without NURTURE_METRICS_TOKEN the path answers 404; with it, a scrape must send the
token as `Authorization: Bearer <token>` (401 otherwise), since the counts describe the
clinic's mailing and a stranger's scrapes would each cost a database snapshot.

Workers are separate processes, so in-process counters would each see a slice; the outbox
and its attempt log are the one place every send is recorded.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nurture.core import clock
from nurture.core.config import get_settings
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
            "How long the oldest email that should have gone has waited (due or retrying).",
            snap.oldest_due_age_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "nurture_retrying_emails",
            "Emails waiting to be tried again after a passing failure (provider down).",
            snap.retrying,
        )
        yield GaugeMetricFamily(
            "nurture_in_flight_emails", "Emails a worker holds right now.", snap.in_flight
        )
        yield GaugeMetricFamily(
            "nurture_backlog_degraded",
            "1 when the oldest waiting email is older than NURTURE_BACKLOG_DEGRADED_SECONDS.",
            1.0 if snap.degraded(get_settings().backlog_degraded_seconds) else 0.0,
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


def _authorised(authorization: str | None) -> None:
    """Raise 404 when metrics are off and 401 without the right bearer token."""
    token = get_settings().metrics_token
    if token is None:
        raise HTTPException(status_code=404, detail="Not Found")
    scheme, _, sent = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sent.strip().encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status_code=401,
            detail="Send the metrics token as: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


@router.get("/metrics", include_in_schema=False)
def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    """Serve the metrics to a scraper that sends the token."""
    _authorised(authorization)
    registry = CollectorRegistry()
    registry.register(OutboxCollector())
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
