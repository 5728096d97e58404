"""Liveness (`/healthz`: this process answers) and readiness (`/readyz`: what it depends on).

A container runtime restarts a web process whose liveness fails, so `/healthz` depends on
nothing outside the process: a late beat or a database restart is no reason to restart web.
`/readyz` is for load balancers, monitors and people: the database answers, the broker
answers, and beat's tick ran within three intervals; its body also reports the email backlog
(`degraded`, still 200, when the oldest email that should have gone is older than
NURTURE_BACKLOG_DEGRADED_SECONDS: web keeps taking signups while mail waits).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.readiness import broker_answers, tick_age, tick_is_fresh
from nurture.delivery.stats import snapshot
from nurture.http.deps import SessionDep

router = APIRouter()


class LiveOut(BaseModel):
    """This process answers requests."""

    status: Literal["ok"]


class BacklogOut(BaseModel):
    """Emails that should have gone and have not, and the rows workers hold."""

    due: int
    retrying: int
    oldest_due_age_seconds: float | None
    in_flight: int
    degraded_after_seconds: int


class ReadyOut(BaseModel):
    """Each part the service needs, the age of beat's last tick and the email backlog."""

    status: Literal["ok", "degraded", "stale", "error"]
    database: Literal["ok", "unreachable"]
    broker: Literal["ok", "unreachable"]
    last_tick_age_seconds: float | None = None
    backlog: BacklogOut | None = None


@router.get("/healthz", tags=["health"], response_model=LiveOut)
async def healthz() -> LiveOut:
    """Answer 200 while this process serves requests (it runs on the event loop, so a blocked
    loop fails it too); depends on no other process."""
    return LiveOut(status="ok")


@router.get(
    "/readyz",
    tags=["health"],
    response_model=ReadyOut,
    responses={
        503: {
            "model": ReadyOut,
            "description": "The database or the broker does not answer, or beat is late.",
        }
    },
)
def readyz(session: SessionDep) -> JSONResponse:
    """Report 200 when the database and broker answer and the tick ran within three intervals.

    The body carries the email backlog; `degraded` (200) says the oldest email is overdue.
    """
    settings = get_settings()
    broker = "ok" if broker_answers(settings) else "unreachable"
    now = clock.now()
    try:
        snap = snapshot(session, now=now)
    except SQLAlchemyError:
        down = {"status": "error", "database": "unreachable", "broker": broker}
        return JSONResponse(down, status_code=503)
    age = tick_age(snap.last_tick_at, now)
    fresh = tick_is_fresh(age, settings)
    ready = fresh and broker == "ok"
    status = "ok" if ready else ("stale" if broker == "ok" else "error")
    if ready and snap.degraded(settings.backlog_degraded_seconds):
        status = "degraded"  # still ready: signups and bookings are taken while mail waits
    oldest = snap.oldest_due_age_seconds
    body: dict[str, object] = {
        "status": status,
        "database": "ok",
        "broker": broker,
        "last_tick_age_seconds": round(age, 1) if age is not None else None,
        "backlog": {
            "due": snap.due_now,
            "retrying": snap.retrying,
            "oldest_due_age_seconds": round(oldest, 1) if oldest is not None else None,
            "in_flight": snap.in_flight,
            "degraded_after_seconds": settings.backlog_degraded_seconds,
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503)
