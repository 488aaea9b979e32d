"""The code's walls: layers that run one way, and no import cycles between any two modules.

`lint-imports` (run by scripts/test) checks the layers; its cycle contract only compares
siblings, so a module importing its own package (bot.app.cli.family -> bot.app.cli) would pass
it. This test looks at every module, lazy imports included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

PACKAGES = ("bot", "dialogs", "scheduler")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or not (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_two_modules_import_each_other_even_lazily() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.b", "a.c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a.b", imported="a.c")
    graph.add_import(importer="a.c", imported="a")
    graph.add_import(importer="a", imported="a.b")
    graph.add_import(importer="d", imported="a")
    assert _cycles(graph) == [["a", "a.b", "a.c"]]


def test_nothing_below_the_app_imports_it() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    app = {"bot.app", *graph.find_descendants("bot.app")}
    importers = {
        importer
        for module in app
        for importer in graph.find_modules_that_directly_import(module)
        if importer not in app
    }
    assert importers == set()


def test_the_layer_contracts_hold() -> None:
    # scripts/test runs lint-imports too; here, so a plain pytest run also sees a broken layer.
    linter = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(linter), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Contracts: 3 kept, 0 broken." in run.stdout
