"""The project's import structure: no cycles, imports flow one way, and nas/ holds only rooms.

Every `import` in the four packages is read with `ast` (module level, inside functions and under
`if TYPE_CHECKING` alike: a lazy or type-only import back up the graph is still a cycle in the design).
The layering (docs/ARCHITECTURE.md):

- search_spaces/ imports none of nas/, profilers/, results/;
- profilers/ never imports nas/;
- results/ never imports torch, ray, optuna or nas/ (reading a finished run needs none of them);
- nas/ holds subpackages only, besides __init__.py and __main__.py.

The finder itself is tested on small synthetic trees, so a broken walker cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nas", "profilers", "results", "search_spaces")
# package -> top-level names it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "search_spaces": frozenset({"nas", "profilers", "results"}),
    "profilers": frozenset({"nas"}),
    "results": frozenset({"torch", "ray", "optuna", "nas"}),
}
NAS_TOP_LEVEL_FILES = {"__init__.py", "__main__.py"}


def module_files(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the given packages."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """Every module `name` imports, as dotted names; `from pkg import mod` resolves to `pkg.mod` when it is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                child = f"{module}.{alias.name}"
                found.add(child if child in known else module)
    return found


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (third-party imports dropped, self-imports too)."""
    known = module_files(root, packages)
    return {
        name: {m for m in imports_of(name, path, known) if m in known and m != name} for name, path in known.items()
    }


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> b -> ... -> a) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:  # iterative Tarjan: deep import chains must not hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")  # pragma: no cover


def layering_violations(root: Path, packages: Iterable[str] = PACKAGES) -> list[str]:
    """'module imports name (package must not import top)' for every forbidden import."""
    known = module_files(root, packages)
    found = []
    for name, path in known.items():
        top = name.split(".")[0]
        for imported in sorted(imports_of(name, path, known)):
            if imported.split(".")[0] in FORBIDDEN.get(top, frozenset()):
                found.append(f"{name} imports {imported} ({top}/ must not import {imported.split('.')[0]})")
    return found


def flat_nas_modules(root: Path) -> list[str]:
    """Modules sitting directly in nas/ other than __init__.py and __main__.py."""
    return sorted(p.name for p in (root / "nas").glob("*.py") if p.name not in NAS_TOP_LEVEL_FILES)


# --------------------------------------------------------------------------------------------------------
# The project
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_the_walker_sees_the_whole_project(project_graph):
    graph = project_graph
    assert {name.split(".")[0] for name in graph} == set(PACKAGES)
    assert len(graph) > 80  # every module, not an empty walk
    assert "nas.export.layout" in graph["nas.export.loading"]
    assert "search_spaces.errors" in graph["nas.export.layout"]


def test_no_import_cycle(project_graph):
    cycles = find_cycles(project_graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_flow_one_way():
    assert layering_violations(ROOT) == []


def test_nas_holds_only_rooms():
    assert flat_nas_modules(ROOT) == []


# --------------------------------------------------------------------------------------------------------
# The finder on synthetic trees
# --------------------------------------------------------------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize(
    ("a_text", "b_text"),
    [
        ("import results.b\n", "import results.a\n"),
        ("from results import b\n", "from results.a import thing\n"),
        ("from . import b\n", "from .a import thing\n"),
        ("def f():\n    from results.b import x\n", "from results.a import y\n"),  # a lazy import still counts
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from results.b import X\n",
            "from results.a import y\n",
        ),
    ],
)
def test_a_two_module_cycle_is_found(tmp_path, a_text, b_text):
    root = _tree(tmp_path, {"results/__init__.py": "", "results/a.py": a_text, "results/b.py": b_text})
    assert find_cycles(import_graph(root)) == [["results.a", "results.b", "results.a"]]


def test_a_longer_cycle_is_reported_as_a_path(tmp_path):
    root = _tree(
        tmp_path,
        {
            "nas/__init__.py": "",
            "nas/x/__init__.py": "",
            "nas/x/a.py": "import nas.x.b\n",
            "nas/x/b.py": "from nas.x import c\n",
            "nas/x/c.py": "from ..x.a import f\n",
            "nas/x/d.py": "import nas.x.a\n",  # imports into the cycle without being part of it
        },
    )
    assert find_cycles(import_graph(root)) == [["nas.x.a", "nas.x.b", "nas.x.c", "nas.x.a"]]


def test_a_chain_and_a_package_reexport_are_not_cycles(tmp_path):
    root = _tree(
        tmp_path,
        {
            "results/__init__.py": "from results.a import f\n",  # the package re-exports its module
            "results/a.py": "from results.b import g\n",
            "results/b.py": "import numpy\n",
        },
    )
    assert find_cycles(import_graph(root)) == []


@pytest.mark.parametrize(
    ("rel", "text", "banned"),
    [
        ("search_spaces/m.py", "from profilers.counting import count\n", "profilers"),
        ("search_spaces/m.py", "def f():\n    import nas\n", "nas"),
        ("search_spaces/m.py", "import results.store\n", "results"),
        ("profilers/m.py", "from nas.search import band\n", "nas"),
        ("results/m.py", "import torch.nn\n", "torch"),
        ("results/m.py", "def f():\n    import ray\n", "ray"),
        ("results/m.py", "from optuna import Trial\n", "optuna"),
        ("results/m.py", "from nas.export.layout import CONFIG_FILE\n", "nas"),
    ],
)
def test_each_forbidden_import_is_found(tmp_path, rel, text, banned):
    root = _tree(tmp_path, {rel: text})
    [violation] = layering_violations(root)
    assert violation.startswith(rel.removesuffix(".py").replace("/", ".") + " imports ")
    assert violation.endswith(f"must not import {banned})")


def test_allowed_imports_are_not_violations(tmp_path):
    root = _tree(
        tmp_path,
        {
            "nas/m.py": "import torch, ray, optuna\nimport profilers, results, search_spaces\n",
            "profilers/m.py": "import torch\nfrom results.files import atomic_path\nfrom search_spaces import x\n",
            "results/m.py": "import pandas, numpy\nfrom search_spaces.errors import EspnasError\n",
            "search_spaces/m.py": "import torch\n",
        },
    )
    assert layering_violations(root) == []


def test_a_flat_module_in_nas_is_found(tmp_path):
    root = _tree(tmp_path, {"nas/__init__.py": "", "nas/__main__.py": "", "nas/x/__init__.py": "", "nas/load.py": ""})
    assert flat_nas_modules(root) == ["load.py"]
