"""Headless Chromium (Debian's package) driven by Playwright, for browser tests and screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nurture.rendering.screenshots import CHROMIUM_FLAGS, chromium


def chromium_path() -> str:
    """Return the system Chromium, or skip (fail when the run requires it)."""
    try:
        return chromium()
    except FileNotFoundError as exc:
        if "chromium" in os.environ.get("NURTURE_TEST_REQUIRE", ""):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
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
