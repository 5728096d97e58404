"""The README's commands: what CI runs, and installs a person can watch progress."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _shell_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [command] = re.findall(r'^TEST_COMMAND="(.*)"$', ci, flags=re.M)
    assert command in _shell_lines()


def test_readme_installs_show_progress() -> None:
    # A quiet install of every dependency sits silent for most of a minute.
    installs = [line for line in _shell_lines() if "pip install" in line]
    assert installs
    quiet = re.compile(r"pip install\b[^&]*\s(-q|--quiet)\b")
    assert [line for line in installs if quiet.search(line)] == []


def test_ci_requires_spamassassin_in_both_passes() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    requires = re.findall(r"NURTURE_TEST_REQUIRE=\"?([a-z,]+)", ci)
    assert len(requires) == 2
    assert all("spamassassin" in r.split(",") for r in requires)
