"""The package's shape: no import cycle, modules a person reads at once, few loose modules,
contracts that break on the defects they were written against, a map that names every room.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nurture.devtools import import_graph

REPO = Path(__file__).resolve().parent.parent.parent
PACKAGE = REPO / "nurture"
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 8


def _packages() -> list[str]:
    """Every package directly under nurture/ (folders of Python code, data folders aside)."""
    return sorted(
        path.parent.name
        for path in PACKAGE.glob("*/__init__.py")
        if path.parent.name != "migrations"
    )


def test_no_module_is_in_an_import_cycle() -> None:
    found = import_graph.cycles(import_graph.module_edges())
    assert found == [], "import cycles between modules:\n" + "\n".join(map(", ".join, found))


def test_the_cycle_finder_follows_loops_through_other_packages(tmp_path: Path) -> None:
    package = tmp_path / "nurture"
    for folder in ("core", "leads", "enrollments"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "clock.py").write_text("def now() -> None: ...\n")
    # leads.service -> enrollments.service -> leads.tags -> leads.service, the last import
    # inside a function; a TYPE_CHECKING import is no cycle (lint-imports leaves it out too).
    (package / "leads" / "service.py").write_text(
        "from nurture.core import clock\nfrom nurture.enrollments import service\n"
    )
    (package / "enrollments" / "service.py").write_text("from nurture.leads.tags import tag\n")
    (package / "leads" / "tags.py").write_text("def tag() -> None:\n    from . import service\n")
    (package / "core" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nurture.core import late\n"
    )
    (package / "core" / "late.py").write_text("from nurture.core import typed\n")

    assert import_graph.cycles(import_graph.module_edges(package)) == [
        ["nurture.enrollments.service", "nurture.leads.service", "nurture.leads.tags"]
    ]
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": {"c"}}) == [["a", "b"]]


def test_no_module_is_longer_than_a_person_reads_at_once() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by what they do (at most {MAX_LINES} lines each)"


def test_at_most_eight_modules_sit_loose_beside_the_packages() -> None:
    loose = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_TOP_LEVEL_MODULES, loose


def test_every_package_has_a_paragraph_and_a_layer() -> None:
    document = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^- \*\*`(\w+)`\*\*", document, flags=re.MULTILINE))
    config = configparser.ConfigParser()
    config.read(REPO / ".importlinter")
    layered = set(re.findall(r"nurture\.(\w+)", config["importlinter:contract:layers"]["layers"]))
    assert [name for name in _packages() if name not in described] == []
    assert [name for name in _packages() if name not in layered] == []


def test_test_folders_are_named_for_the_packages_they_test() -> None:
    folders = sorted(path.parent.name for path in (REPO / "tests").glob("*/__init__.py"))
    assert [name for name in folders if name not in _packages()] == []


# Each defect the contracts were written against, put back into a copy of today's code: the
# four import cycles of the tree before the packages (a view importing the app factory, the
# channel interface importing a provider, sequence checks reaching into the engine, events and
# the tick importing each other) and the layering they protect.
DEFECTS = {
    "leads/views.py": ("import nurture.web.app", ["layers", "domains", "factory"]),
    "delivery/channels/base.py": (
        "from nurture.delivery.channels import sendgrid_api",
        ["channels", "cycles"],
    ),
    "sequences/checks.py": ("from nurture.delivery import compose", ["layers", "checks"]),
    "delivery/events.py": ("from nurture.delivery import service", ["engine", "cycles"]),
    "core/clock.py": ("import nurture.leads.models", ["layers", "platform"]),
    "clinic/service.py": ("import nurture.staff.audit", ["layers"]),
    "studio/web.py": ("import nurture.studio.people", ["studio"]),
}
CONTRACTS = {
    "layers": "Layers, lowest last",
    "platform": "The platform and the template machinery",
    "domains": "Domains import no app factory",
    "factory": "Nothing but the entry points imports the app factory",
    "checks": "Sequence checks and message previews",
    "engine": "The delivery engine",
    "channels": "Channels: the registry picks a provider",
    "studio": "The studio: the mount imports the pages",
    "cycles": "No import cycles between the modules of a package",
}


def _lint_imports(root: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "400", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.skipif(
    not Path(sys.executable).with_name("lint-imports").exists(), reason="import-linter missing"
)
def test_the_contracts_break_on_the_defects_they_were_written_against(tmp_path: Path) -> None:
    shutil.copytree(
        PACKAGE, tmp_path / "nurture", ignore=shutil.ignore_patterns("__pycache__", "static")
    )
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    code, output = _lint_imports(tmp_path)
    assert code == 0, output  # the copy as it is keeps every contract
    assert set(CONTRACTS) == {name for _, names in DEFECTS.values() for name in names}

    for relative, (line, _) in DEFECTS.items():
        module = tmp_path / "nurture" / relative
        module.write_text(module.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    code, output = _lint_imports(tmp_path)

    assert code == 1, output
    broken = {
        key
        for key, name in CONTRACTS.items()
        if re.search(re.escape(name) + r"[^\n]*BROKEN", output)
    }
    assert broken == set(CONTRACTS), output
    for relative, (line, _) in DEFECTS.items():
        importer = "nurture." + relative.removesuffix(".py").replace("/", ".")
        assert importer in output, f"{relative}: {line} is not reported\n{output}"
