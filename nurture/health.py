"""Liveness for load balancers: the database answers and beat has ticked recently."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nurture import clock
from nurture.config import get_settings
from nurture.delivery.models import Heartbeat
from nurture.web import SessionDep

router = APIRouter()


@router.get("/healthz", tags=["health"])
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
