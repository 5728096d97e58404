"""The diagram in docs/architecture.md is the one the imports draw; the tool reads imports."""

from __future__ import annotations

from pathlib import Path

from nurture.devtools import import_graph

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "architecture.md"


def test_the_committed_diagram_is_the_one_the_code_draws() -> None:
    committed = import_graph.embedded(DOC.read_text(encoding="utf-8"))
    drawn = import_graph.mermaid(import_graph.edges())
    assert committed == drawn, (
        "docs/architecture.md's diagram is stale: run "
        "`python -m nurture.devtools.import_graph --write docs/architecture.md`"
    )


def test_the_graph_follows_absolute_relative_and_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / "nurture"
    for folder in ("core", "leads", "web", "migrations"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "clock.py").write_text("def now() -> None: ...\n")
    (package / "leads" / "service.py").write_text("from nurture.core import clock\n")
    (package / "leads" / "views.py").write_text("from . import service\nimport json\n")
    (package / "web" / "app.py").write_text(
        "def create_app() -> None:\n    from ..leads import views\n"
    )
    (package / "migrations" / "env.py").write_text("import nurture.web.app\n")
    (package / "tasks.py").write_text("import nurture.leads.service\n")

    assert import_graph.edges(package) == {
        ("leads", "core"),
        ("web", "leads"),
        ("tasks", "leads"),
    }


def test_writing_replaces_only_the_diagram_between_the_markers() -> None:
    document = f"# Title\n\nbefore\n{import_graph.BEGIN}\nold\n{import_graph.END}\nafter\n"
    written = import_graph.embed(document, "graph TD\n    a --> b\n")
    assert written.startswith("# Title\n\nbefore\n")
    assert written.endswith(f"{import_graph.END}\nafter\n")
    assert import_graph.embedded(written) == "graph TD\n    a --> b\n"
