"""Liveness for load balancers: the database answers and beat has ticked recently."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.http.deps import SessionDep
from nurture.outbox.models import Heartbeat

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
