"""Liveness (`/healthz`: this process answers) and readiness (`/readyz`: what it depends on).

A container runtime restarts a web process whose liveness fails, so `/healthz` depends on
nothing outside the process: a late beat or a database restart is no reason to restart web.
`/readyz` is for load balancers, monitors and people: the database answers, the broker
answers, and beat's tick ran within three intervals.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.readiness import broker_answers, tick_age, tick_is_fresh
from nurture.delivery.models import Heartbeat
from nurture.http.deps import SessionDep

router = APIRouter()


class LiveOut(BaseModel):
    """This process answers requests."""

    status: Literal["ok"]


class ReadyOut(BaseModel):
    """Each part the service needs, and the age of beat's last tick."""

    status: Literal["ok", "stale", "error"]
    database: Literal["ok", "unreachable"]
    broker: Literal["ok", "unreachable"]
    last_tick_age_seconds: float | None = None


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
    """Report 200 when the database and broker answer and the tick ran within three intervals."""
    settings = get_settings()
    broker = "ok" if broker_answers(settings) else "unreachable"
    try:
        last = session.scalar(select(Heartbeat.beat_at).where(Heartbeat.name == "tick"))
    except SQLAlchemyError:
        down = {"status": "error", "database": "unreachable", "broker": broker}
        return JSONResponse(down, status_code=503)
    age = tick_age(last, clock.now())
    fresh = tick_is_fresh(age, settings)
    ready = fresh and broker == "ok"
    body: dict[str, str | float | None] = {
        "status": "ok" if ready else ("stale" if broker == "ok" else "error"),
        "database": "ok",
        "broker": broker,
        "last_tick_age_seconds": round(age, 1) if age is not None else None,
    }
    return JSONResponse(body, status_code=200 if ready else 503)
