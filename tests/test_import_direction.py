"""The direction of imports between packages (DESIGN.md §2, docs/decisions.md).

``web -> escalation, bots, careplan, sensors, bridge -> rooms``; ``rooms`` imports none
of them; between the middle packages only ``careplan -> bots`` (the visit record reads
the bots' visits and follows their log entries; ``bots`` never imports ``careplan``).
Every import statement counts, including one inside a function: a cycle is fixed by
its direction, not hidden in a function body. Pure AST reading: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "rooms"
MIDDLE = ("bots", "careplan", "sensors", "escalation", "bridge")
TOP = "web"
APPS = (CORE, *MIDDLE, TOP)
ALLOWED_SIDEWAYS = {("careplan", "bots")}


def imports_of(package: str) -> dict[str, set[str]]:
    """Other app packages each module of ``package`` imports: {app: {file:line, ...}}."""
    out: dict[str, set[str]] = {}
    for f in sorted((ROOT / package).rglob("*.py")):
        rel = f.relative_to(ROOT)
        if "migrations" in rel.parts:
            continue  # Django writes these; model references are strings there
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(rel))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in APPS and top != package:
                    out.setdefault(top, set()).add(f"{rel}:{node.lineno}")
    return out


GRAPH = {p: imports_of(p) for p in APPS}


def test_rooms_imports_none_of_the_packages_that_consume_its_log():
    assert GRAPH[CORE] == {}


@pytest.mark.parametrize("package", MIDDLE)
def test_no_middle_package_imports_web(package):
    assert TOP not in GRAPH[package], GRAPH[package].get(TOP)


@pytest.mark.parametrize("package", MIDDLE)
def test_middle_packages_import_each_other_only_in_the_allowed_direction(package):
    sideways = {
        (package, other): sorted(where)
        for other, where in GRAPH[package].items()
        if other in MIDDLE and (package, other) not in ALLOWED_SIDEWAYS
    }
    assert sideways == {}


def test_bots_imports_nothing_of_careplan():
    # The tasks card and its taps are the careplan consumer's (careplan/consumer.py).
    assert "careplan" not in GRAPH["bots"], GRAPH["bots"].get("careplan")


def test_the_package_graph_has_no_cycle():
    edges = {p: set(GRAPH[p]) for p in APPS}
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(p: str, path: list[str]) -> None:
        seen[p] = 1
        for q in sorted(edges[p]):
            assert seen.get(q) != 1, " -> ".join([*path, p, q])
            if q not in seen:
                visit(q, [*path, p])
        seen[p] = 2

    for p in APPS:
        if p not in seen:
            visit(p, [])
