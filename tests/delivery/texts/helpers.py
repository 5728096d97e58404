"""Shared setup for the text-message tests: an API client with a token, a booking, a tick."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend, get_text_backend

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday 10:00
PHONE = "+4915112345678"


def booking(**overrides: object) -> dict[str, object]:
    """Return an appointments API body for a visit with a phone and SMS consent."""
    body: dict[str, object] = {
        "email": "pat@example.com",
        "first_name": "Pat",
        "starts_at": VISIT.isoformat(),
        "timezone": "Europe/Berlin",
        "location": "Room 2, 123 Example Street",
        "external_id": "ext-1",
        "phone": PHONE,
        "sms_consent": True,
    }
    body.update(overrides)
    return body


def tick(at: datetime) -> list[Any]:
    """Run one tick at `at`, delivering in this process; return every outcome."""
    outcomes: list[Any] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: outcomes.extend(
                service.deliver_batch(ids, backend=get_backend(), texts=get_text_backend())
            )
        )
    return outcomes
