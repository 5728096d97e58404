"""Draw the package-level imports of `nurture` as a Mermaid graph, read from the source's AST.

`python -m nurture.devtools.import_graph` prints the graph; with `--write docs/architecture.md`
it replaces the diagram between the BEGIN/END markers there (the suite checks that the
committed diagram is the one the code draws today). With `--cycles` it lists the import cycles
between modules (imports inside functions included) and exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Migrations import only the database types; they are history, not structure.
SKIPPED = frozenset({"migrations", "devtools"})


def unit_of(module: str) -> str | None:
    """The package (or top-level module) a dotted module name belongs to, without `nurture.`."""
    parts = module.split(".")
    if parts[0] != "nurture" or len(parts) < 2:
        return None
    return None if parts[1] in SKIPPED else parts[1]


def _module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of nodes under `if TYPE_CHECKING:`, which lint-imports leaves out too."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name | ast.Attribute)
        and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def edges(root: Path = ROOT) -> set[tuple[str, str]]:
    """Every (importer, imported) pair of packages, each a package name under nurture."""
    found: set[tuple[str, str]] = set()
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        source = unit_of(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported(tree, module, path.name == "__init__.py"):
            target = unit_of(name)
            if target is not None and target != source and _exists(root, name):
                found.add((source, target))
    return found


def _exists(root: Path, name: str) -> bool:
    """Tell whether `name` (or the module it takes a name from) is a module of the package."""
    parts = name.split(".")[1:]
    for end in (len(parts), len(parts) - 1):
        base = root.joinpath(*parts[:end])
        if end and (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            return True
    return False


def _resolved(
    root: Path, node: ast.Import | ast.ImportFrom, module: str, is_package: bool
) -> set[str]:
    """The modules of the package one import statement loads (`from a import b` loads a.b when
    b is a module, else a)."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        names = set()
        for alias in node.names:
            full = f"{base}.{alias.name}"
            names.add(full if _is_module(root, full) else base)
    return {name for name in names if name.split(".")[0] == root.name and _is_module(root, name)}


def _is_module(root: Path, name: str) -> bool:
    base = root.joinpath(*name.split(".")[1:])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_edges(root: Path = ROOT) -> dict[str, set[str]]:
    """Every module (migrations aside) and the modules of the package it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        if module.split(".")[1:2] == ["migrations"]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = _type_checking_only(tree)
        targets = found.setdefault(module, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
                targets.update(_resolved(root, node, module, path.name == "__init__.py"))
        targets.discard(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan's
    strongly connected components, without recursion), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups, key=lambda group: (-len(group), group))


def mermaid(found: set[tuple[str, str]]) -> str:
    """The graph as Mermaid text, one arrow per line, sorted so it diffs cleanly."""
    lines = ["graph TD"]
    lines.extend(f"    {source} --> {target}" for source, target in sorted(found))
    return "\n".join(lines) + "\n"


# The command that redraws the diagram is named in the marker, so a reader of the doc sees it.
BEGIN = (
    "<!-- BEGIN import graph: "
    "python -m nurture.devtools.import_graph --write docs/architecture.md -->"
)
END = "<!-- END import graph -->"


def embedded(document: str) -> str:
    """The Mermaid text between the markers of `document` (without the code fence)."""
    start = document.index(BEGIN) + len(BEGIN)
    block = document[start : document.index(END)]
    return block.strip().removeprefix("```mermaid").removesuffix("```").strip() + "\n"


def embed(document: str, graph: str) -> str:
    """`document` with the diagram between its markers replaced by `graph`."""
    start = document.index(BEGIN) + len(BEGIN)
    return f"{document[:start]}\n```mermaid\n{graph}```\n{document[document.index(END) :]}"


def main(argv: list[str] | None = None) -> None:
    """Print the Mermaid graph of today's imports, or write it into a document's markers."""
    args = sys.argv[1:] if argv is None else argv
    graph = mermaid(edges())
    if args[:1] == ["--write"] and len(args) == 2:
        path = Path(args[1])
        path.write_text(embed(path.read_text(encoding="utf-8"), graph), encoding="utf-8")
        return
    if args == ["--cycles"]:
        found = cycles(module_edges())
        for group in found:
            sys.stdout.write(f"{len(group)} modules in a cycle: {', '.join(group)}\n")
        raise SystemExit(1 if found else 0)
    if args:
        raise SystemExit(
            "usage: python -m nurture.devtools.import_graph [--write DOCUMENT | --cycles]"
        )
    sys.stdout.write(graph)


if __name__ == "__main__":
    main()
