"""Fixtures of the text-message tests."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from nurture.cli import main
from nurture.core import clock
from tests.delivery.texts.helpers import NOW


@pytest.fixture
def token(session) -> str:  # type: ignore[no-untyped-def]
    """Create an API token for the appointments API."""
    result = CliRunner().invoke(main, ["tokens", "create", "booking-system"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


@pytest.fixture
def api(client, token):  # type: ignore[no-untyped-def]
    """Call the API with the token, at a frozen moment (NOW unless told)."""

    def call(method: str, path: str, at: datetime = NOW, **kwargs):  # type: ignore[no-untyped-def]
        with clock.frozen_at(at):
            return client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )

    return call
