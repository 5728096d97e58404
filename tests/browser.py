"""Headless Chromium (Debian's package) driven by Playwright, for browser tests and screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Return the system Chromium, or skip (fail when the run requires it)."""
    path = os.environ.get("NURTURE_CHROMIUM") or shutil.which("chromium")
    if path:
        return path
    required = "chromium" in os.environ.get("NURTURE_TEST_REQUIRE", "")
    message = "Chromium is not installed (apt-get install chromium)"
    if required:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


@contextmanager
def browser() -> Iterator[object]:
    """Yield a Playwright Browser running headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()
