"""A database that stays locked past its wait answers 503 with Retry-After, never a 500."""

from __future__ import annotations

import json
import sqlite3

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nurture.core.config import get_settings
from nurture.outbox.models import DeliveryEvent
from nurture.web.app import create_app


def _sqlite_path() -> str:
    url = get_settings().resolved_database_url
    if not url.startswith("sqlite"):
        pytest.skip("holds SQLite's single writer lock from a second connection")
    return url.split("///", 1)[-1]


@pytest.fixture
def served(settings):  # type: ignore[no-untyped-def]
    """A client that sees what a real caller sees when a view raises, not the exception."""
    from nurture.core.db import dispose_engines

    settings(sqlite_busy_timeout_seconds="0.5")  # wait out the lock quickly, then answer
    dispose_engines()
    with TestClient(
        create_app(), base_url="https://nurture.test", raise_server_exceptions=False
    ) as c:
        yield c
    dispose_engines()  # the next test's engine waits the usual time again


def test_sendgrid_batch_while_another_writer_holds_the_lock_gets_503(served, session) -> None:
    batch = [
        {
            "email": f"p{i}@example.com",
            "event": "delivered",
            "timestamp": 1795800000 + i,
            "sg_event_id": f"busy-{i}",
        }
        for i in range(3)
    ]
    holder = sqlite3.connect(_sqlite_path(), timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")  # as a long tick would, from another process
        response = served.post(
            "/webhooks/sendgrid",
            content=json.dumps(batch),
            headers={"Content-Type": "application/json"},
        )
    finally:
        holder.rollback()
        holder.close()
    # SendGrid retries a 5xx; a 503 with Retry-After says it is temporary and nothing is wrong.
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert response.json()["error"] == "busy"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The retry, once the lock is gone, stores the batch.
    retry = served.post(
        "/webhooks/sendgrid",
        content=json.dumps(batch),
        headers={"Content-Type": "application/json"},
    )
    assert retry.status_code == 200, retry.text
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 3


def test_a_browser_gets_the_busy_page(served) -> None:
    holder = sqlite3.connect(_sqlite_path(), timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = served.post(
            "/subscribe",
            data={
                "first_name": "Ann",
                "email": "ann@example.com",
                "numbness_type": "acute",
                "timezone": "UTC",
                "consent": "true",
                "consent_version": "2026-11-v1",
            },
            headers={"Accept": "text/html"},
            follow_redirects=False,
        )
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503, response.text[:300]
    assert "text/html" in response.headers["content-type"]
    assert "busy for a moment" in response.text
