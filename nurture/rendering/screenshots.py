"""PNG screenshots of rendered emails in headless Chromium, through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """Return the Chromium to use (NURTURE_CHROMIUM, else `chromium` on the PATH)."""
    path = os.environ.get("NURTURE_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise FileNotFoundError("Chromium is not installed (apt-get install chromium)")
    return path


def screenshot_pages(pages: list[Path], *, widths: dict[str, int]) -> Iterator[tuple[int, Path]]:
    """Save `<page>.<label>.png` for each width; yield progress as (count, page)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise FileNotFoundError("Playwright is not installed (pip install playwright)") from exc
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            contexts = {
                label: browser.new_context(viewport={"width": width, "height": 900})
                for label, width in widths.items()
            }
            for done, page_path in enumerate(pages, start=1):
                for label, context in contexts.items():
                    page = context.new_page()
                    page.goto(page_path.resolve().as_uri())
                    page.screenshot(
                        path=str(page_path.with_suffix(f".{label}.png")), full_page=True
                    )
                    page.close()
                yield done, page_path
        finally:
            browser.close()
