"""`nurture preview` after the quick-start install says exactly what its screenshots need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The program as a quick-start install runs it, with Playwright made unimportable.
WITHOUT_PLAYWRIGHT = (
    "import sys; sys.modules['playwright'] = None; sys.modules['playwright.sync_api'] = None; "
    "from nurture.cli import main; main()"
)
INSTALL = "pip install 'nurture[preview]'"


def _preview(out: Path, *, code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, "preview", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_playwright_it_names_what_to_install(tmp_path: Path) -> None:
    out = tmp_path / "gallery"
    result = _preview(out, code=WITHOUT_PLAYWRIGHT, env=dict(os.environ))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nurture preview needs Playwright and Chromium" in result.stderr
    assert INSTALL in result.stderr
    assert "apt-get install chromium" in result.stderr
    assert "--no-screenshots" in result.stderr
    # It stops before writing anything, rather than leave a gallery without its pictures.
    assert not (out / "index.html").exists()


def test_without_chromium_it_names_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NURTURE_CHROMIUM"}
    env["PATH"] = str(tmp_path)  # no chromium on it
    out = tmp_path / "gallery"
    code = "from nurture.cli import main; main()"
    result = _preview(out, code=code, env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Chromium is not installed" in result.stderr
    assert "apt-get install chromium" in result.stderr
    assert not (out / "index.html").exists()
