"""Liveness for load balancers (`/healthz`: the database answers and beat has ticked recently)
and readiness with the email backlog (`/readyz`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery.models import Heartbeat
from nurture.delivery.stats import snapshot
from nurture.http.deps import SessionDep

router = APIRouter()


class HealthOut(BaseModel):
    """How the service is: the database and the age of beat's last tick."""

    status: Literal["ok", "stale", "error"]
    database: Literal["ok", "unreachable"]
    last_tick_age_seconds: float | None = None


@router.get(
    "/healthz",
    tags=["health"],
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "The database does not answer or beat is late."}
    },
)
def healthz(session: SessionDep) -> JSONResponse:
    """Report 200 when the database answers and the tick ran within three intervals."""
    settings = get_settings()
    try:
        last = session.scalar(select(Heartbeat.beat_at).where(Heartbeat.name == "tick"))
    except SQLAlchemyError:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    age = (clock.now() - last).total_seconds() if last else None
    healthy = age is not None and age <= 3 * settings.tick_seconds + 5
    body = {
        "status": "ok" if healthy else "stale",
        "database": "ok",
        "last_tick_age_seconds": round(age, 1) if age is not None else None,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


class BacklogOut(BaseModel):
    """Emails that should have gone and have not, and the rows workers hold."""

    due: int
    retrying: int
    oldest_due_age_seconds: float | None
    in_flight: int
    degraded_after_seconds: int


class ReadyOut(BaseModel):
    """Whether the service can take work, and how far behind sending is."""

    status: Literal["ok", "degraded", "error"]
    database: Literal["ok", "unreachable"]
    backlog: BacklogOut | None = None


@router.get(
    "/readyz",
    tags=["health"],
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "The database does not answer."}},
)
def readyz(session: SessionDep) -> JSONResponse:
    """Report the email backlog; `degraded` (still 200: signups are taken) when it is old."""
    settings = get_settings()
    try:
        snap = snapshot(session, now=clock.now())
    except SQLAlchemyError:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    age = snap.oldest_due_age_seconds
    body = {
        "status": "degraded" if snap.degraded(settings.backlog_degraded_seconds) else "ok",
        "database": "ok",
        "backlog": {
            "due": snap.due_now,
            "retrying": snap.retrying,
            "oldest_due_age_seconds": round(age, 1) if age is not None else None,
            "in_flight": snap.in_flight,
            "degraded_after_seconds": settings.backlog_degraded_seconds,
        },
    }
    return JSONResponse(body, status_code=200)
