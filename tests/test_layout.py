"""The house rules of the package's layout, read from its source with ``ast``.

gradlab is wings over a base: ``check`` (one rule at one input), ``ops`` (the registry),
``fuzz`` (Hypothesis over the registry's specs), ``cli`` (the command line), ``train`` (the
reference training core) and ``bridges`` (rules of other autodiff frameworks). Imports run one
way, cli -> fuzz -> ops -> check -> base; train uses ops and check but nothing uses train except
the faces (the command line, the pytest plugin); bridges use check, and only the faces use them.
Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import is still
a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gradlab

PACKAGE = Path(gradlab.__file__).parent

# each wing and the wings it may import ("face": the public API, ``python -m``, the pytest plugin)
MAY_IMPORT = {
    "face": {"face", "cli", "fuzz", "train", "bridges", "ops", "check", "base"},
    "cli": {"cli", "fuzz", "train", "bridges", "ops", "check", "base"},
    "fuzz": {"fuzz", "ops", "check", "base"},
    "train": {"train", "ops", "check", "base"},
    "bridges": {"bridges", "check", "base"},
    "ops": {"ops", "check", "base"},
    "check": {"check", "base"},
    "base": set(),
}
FACES = {"gradlab", "gradlab.__main__", "gradlab.pytest_plugin"}
BASE = {"gradlab.backend", "gradlab.errors", "gradlab._version"}
MAX_LINES = 400


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for the package at ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the same package: line of the first such import}.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    relative imports are resolved; every import statement counts, wherever it stands."""
    known = modules(root)
    top = root.name

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                if target == top or target.startswith(top + "."):
                    resolved = owner(target)
                    if resolved is not None and resolved != name:
                        edges.setdefault(resolved, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import cycles: each strongly connected group of two or more modules, as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(graph, set(group)) for group in groups]


def _cycle_through(graph: dict[str, dict[str, int]], group: set[str]) -> list[str]:
    """One cycle inside a strongly connected group, from its first module (by name) back to it."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first: the shortest cycle back to start
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return [*paths[v], start]
                if w in group and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected group without a cycle")


def wing(module: str) -> str:
    if module in FACES:
        return "face"
    if module in BASE:
        return "base"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in MAY_IMPORT and parts[1] not in ("face", "base"):
        return parts[1]
    raise AssertionError(f"{module} belongs to no wing: put it in one of gradlab/{{check,ops,fuzz,cli,train,bridges}}/")


# ---- the package -----------------------------------------------------------------------------------


def test_no_import_cycle_between_gradlabs_modules():
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles (lazy imports included):\n" + "\n".join(" -> ".join(c) for c in found)


def test_imports_run_one_way_between_the_wings():
    wrong = [
        f"{module} ({wing(module)}) imports {target} ({wing(target)}) at line {line}"
        for module, edges in import_graph(PACKAGE).items()
        for target, line in edges.items()
        if wing(target) not in MAY_IMPORT[wing(module)] | {wing(module)}
    ]
    direction = "cli -> fuzz -> ops -> check -> base (train: ops, check; bridges: check)"
    assert not wrong, f"imports against the direction {direction}:\n" + "\n".join(wrong)


def test_no_module_is_two_ideas():
    long = {name: n for name, path in modules(PACKAGE).items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split each into the ideas it holds): {long}"


# ---- the reader of imports can fail ----------------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_lazy_import_closes_a_cycle(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from pkg.high import b\n",
            "high/__init__.py": "",
            "high/b.py": "from pkg.low.a import f\n",
        },
    )
    assert cycles(import_graph(root)) == [["pkg.high.b", "pkg.low.a", "pkg.high.b"]]


def test_type_checking_and_relative_imports_count(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n",
            "b.py": "from .a import x\n",
            "c.py": "import pkg.a\n",
        },
    )
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.b": 3} and graph["pkg.b"] == {"pkg.a": 1} and graph["pkg.c"] == {"pkg.a": 1}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
