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


# One Playwright driver and one Chromium serve consecutive browser tests: starting them took
# about 1 s and 0.8 CPU-s a test. Each test gets its own contexts (no cookies, storage or cache
# shared) and they are all closed when its block ends. conftest.py stops the browser before any
# other kind of test runs, since Playwright's sync API marks an event loop running in this thread
# between its calls.
_shared: dict[str, object] = {}


@contextmanager
def browser() -> Iterator[object]:
    """Yield a Playwright Browser running headless Chromium; close what the block opened."""
    instance = _shared.get("browser")
    if instance is None:
        from playwright.sync_api import sync_playwright

        executable = chromium_path()
        playwright = sync_playwright().start()
        try:
            instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except BaseException:
            playwright.stop()
            raise
        _shared.update(playwright=playwright, browser=instance)
    try:
        yield instance
    finally:
        for context in instance.contexts:  # type: ignore[attr-defined]
            context.close()


def close_shared_browser() -> None:
    """Stop the shared Chromium and Playwright driver, if they run."""
    instance = _shared.pop("browser", None)
    playwright = _shared.pop("playwright", None)
    if instance is not None:
        instance.close()  # type: ignore[attr-defined]
    if playwright is not None:
        playwright.stop()  # type: ignore[attr-defined]


def uses_browser(item: pytest.Item) -> bool:
    """Whether a test's module drives Chromium through `browser()`."""
    module = getattr(item, "module", None)
    return getattr(module, "browser", None) is browser
