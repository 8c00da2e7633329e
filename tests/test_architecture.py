"""The package's shape: imports flow one way between the subpackages, no module imports
itself back through a chain, and no file is too long to read in one sitting.

The import graph is built from the source (every ``import`` statement, lazy ones inside
functions and ``TYPE_CHECKING`` blocks included), not from what happens to be imported at
run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "deltaprop"

# Which subpackages each subpackage may import (besides itself): the arrows
# app → sklearn → train → fast → optim, core; io → core (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "optim": {"core"},
    "io": {"core"},
    "fast": {"optim", "core"},
    "parallel": {"core"},
    "data": {"core", "parallel"},
    "train": {"fast", "optim", "core", "io", "parallel", "data"},
    "sklearn": {"train", "fast", "optim", "core", "io", "parallel", "data"},
    "export": {"core", "io"},
    "app": {"sklearn", "train", "fast", "optim", "core", "io", "parallel", "export", "data"},
}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The deltaprop modules that ``path`` imports: ``from P import x`` counts as an import
    of ``P.x`` where that is a module, else of ``P`` (its ``__init__``)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "deltaprop")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "deltaprop":
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.add(sub if sub in modules else mod)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_subpackage_is_declared() -> None:
    found = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == set(ALLOWED)


def test_imports_flow_one_way() -> None:
    wrong = []
    for module, targets in sorted(_graph().items()):
        src = _subpackage(module)
        if src is None:  # deltaprop/__init__.py and __main__.py gather the public API
            continue
        for target in sorted(targets):
            dst = _subpackage(target)
            if dst is None or (dst != src and dst not in ALLOWED[src]):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert circles == []


def test_the_graph_sees_lazy_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function counts."""
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from deltaprop.app import cli\n")
    modules = {"deltaprop.app.cli": path}
    assert _imports(path, "deltaprop.core.m", modules) == {"deltaprop.app.cli"}


@pytest.mark.parametrize("folder", ["src", "tests"])
def test_files_are_short(folder: str) -> None:
    lengths = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in sorted((ROOT / folder).rglob("*.py"))
    }
    long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert long == {}


def test_nothing_imports_the_old_name() -> None:
    """No module imports ``backprop`` (files written under that name are read as data)."""
    offenders = []
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "backprop" for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_map_names_every_module() -> None:
    """docs/architecture.md's tree names every module of src/deltaprop (subcommands apart:
    "one module per subcommand")."""
    tree = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(p.relative_to(SRC))
        for p in sorted(SRC.rglob("*.py"))
        if p.name not in ("__init__.py", "__main__.py")
        and "commands" not in p.parts
        and p.name not in tree
    ]
    assert not missing, f"docs/architecture.md does not name: {missing}"
