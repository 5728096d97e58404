"""PNG screenshots of rendered emails in headless Chromium, through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
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


# Neither is in the quick-start install (`pip install -e .`): say how to get both at once.
INSTALL_HINT = (
    "nurture preview needs Playwright and Chromium for its screenshots: "
    "pip install 'nurture[preview]' and apt-get install chromium (or set NURTURE_CHROMIUM "
    "to a Chromium); or run it with --no-screenshots"
)


def chromium() -> str:
    """Return the Chromium to use (NURTURE_CHROMIUM, else `chromium` on the PATH)."""
    path = os.environ.get("NURTURE_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise FileNotFoundError("Chromium is not installed (apt-get install chromium)")
    return path


def require_browser() -> str:
    """Return the Chromium to use; raise FileNotFoundError naming what to install if missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise FileNotFoundError(f"Playwright is not installed. {INSTALL_HINT}") from exc
    try:
        return chromium()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"Chromium is not installed. {INSTALL_HINT}") from exc


# The document's width and the right edge of the furthest element: either beyond the viewport
# means a reader must scroll sideways, or loses what is cut off.
_CONTENT_WIDTH = """() => {
  let right = document.documentElement.scrollWidth;
  for (const el of document.body.querySelectorAll('*')) {
    for (const box of el.getClientRects()) right = Math.max(right, Math.ceil(box.right));
  }
  return right;
}"""


@dataclass(frozen=True, slots=True)
class Shot:
    """One screenshot and how wide its content was against the viewport."""

    label: str
    viewport: int
    content_width: int

    @property
    def too_wide(self) -> bool:
        """Whether the email is wider than the screen it was shot on."""
        return self.content_width > self.viewport


def screenshot_pages(
    pages: list[Path], *, widths: dict[str, int], dark: frozenset[str] = frozenset()
) -> Iterator[tuple[int, Path, list[Shot]]]:
    """Save `<page>.<label>.png` for each width; yield progress and each page's measurements.

    Labels in `dark` are shot with the reader's system in dark mode (prefers-color-scheme).
    """
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            contexts = {
                label: (
                    width,
                    browser.new_context(
                        viewport={"width": width, "height": 900},
                        color_scheme="dark" if label in dark else "light",
                    ),
                )
                for label, width in widths.items()
            }
            for done, page_path in enumerate(pages, start=1):
                shots = []
                for label, (width, context) in contexts.items():
                    page = context.new_page()
                    page.goto(page_path.resolve().as_uri())
                    shots.append(Shot(label, width, int(page.evaluate(_CONTENT_WIDTH))))
                    page.screenshot(
                        path=str(page_path.with_suffix(f".{label}.png")), full_page=True
                    )
                    page.close()
                yield done, page_path, shots
        finally:
            browser.close()
