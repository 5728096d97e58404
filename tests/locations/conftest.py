"""Two sites besides the clinic itself (`main`), added the way an admin would from a shell."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nurture.cli import main
from tests.studio.conftest import admin_studio, make_staff, studio

__all__ = ["admin_studio", "make_staff", "studio"]

SITES = {
    "north": (
        "North Clinic",
        "1 North Road, Springfield",
        "+1 212 555 0101",
        "America/New_York",
        "https://book.example.com/north",
        "https://reviews.example.com/north",
    ),
    "south": (
        "South Clinic",
        "9 South Street, Shelbyville",
        "+1 312 555 0199",
        "America/Chicago",
        "https://book.example.com/south",
        "https://reviews.example.com/south",
    ),
}


def add_site(key: str) -> None:
    """Add one of SITES with `nurture locations add`."""
    name, address, phone, zone, booking, review = SITES[key]
    args = ["locations", "add", key, "--name", name, "--address", address, "--phone", phone]
    args += ["--timezone", zone, "--booking-url", booking, "--review-url", review]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def two_sites(session) -> None:  # type: ignore[no-untyped-def]
    """Add North and South (the clinic becomes `main`, the default)."""
    add_site("north")
    add_site("south")
