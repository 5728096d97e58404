"""The baseline for bench_signup.py: the same framework and server, the same request parsing
and validation model, and nothing else (no database, no broker).

Run as `uvicorn bare_signup_app:app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from nurture.leads.schemas import SubscribeAccepted, SubscribeRequest

app = FastAPI()


@app.post("/api/subscribe", status_code=202)
def subscribe(data: SubscribeRequest) -> JSONResponse:
    """Validate and answer, like the real endpoint, without storing anything."""
    return JSONResponse(SubscribeAccepted().model_dump(), status_code=202)
