"""The import graph of r1eval/, distill/ and rl/ (every import statement, function-level ones included,
read with ast): no cycle anywhere, and the core (r1eval/ but its command-line entry modules) imports
nothing from distill/ or rl/. The training folders install as `r1eval.distill` and `r1eval.rl` (the links
r1eval/distill and r1eval/rl point at them), never as bare top-level packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# folder -> the package name it installs as
PACKAGES = {"r1eval": "r1eval", "distill": "r1eval.distill", "rl": "r1eval.rl"}
TRAINING = ("r1eval.distill", "r1eval.rl")
# the command line: the top layer, which dispatches to distill/ and rl/
CLI_MODULES = {"r1eval.cli", "r1eval.__main__", "r1eval.cli_args", "r1eval.distill.cli"}


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (root / folder).rglob("*.py"):  # does not follow the r1eval/distill and r1eval/rl links
            parts = (*package.split("."), *path.relative_to(root / folder).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def training_package(module: str) -> str | None:
    """r1eval.distill or r1eval.rl when `module` is in one of them."""
    return next((p for p in TRAINING if module == p or module.startswith(p + ".")), None)


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    """module -> the modules of these packages it imports (the most specific module a name resolves to)."""
    modules = _modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        graph[module] = {t for t in map(resolve, targets) if t and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The reader finds absolute, from-, relative and function-level imports, and a cycle through them."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "r1eval" / "a.py").write_text("from . import b\n")
    (tmp_path / "r1eval" / "b.py").write_text("def f():\n    import r1eval.distill.c\n")
    (tmp_path / "distill" / "c.py").write_text("from r1eval.a import thing\n")
    graph = import_graph(tmp_path)
    assert graph["r1eval.a"] == {"r1eval.b"} and graph["r1eval.b"] == {"r1eval.distill.c"}
    assert find_cycle(graph) == ["r1eval.a", "r1eval.b", "r1eval.distill.c", "r1eval.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None


GRAPH = import_graph()


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not training_package(m) and m not in CLI_MODULES))
def test_core_imports_no_training_package(module: str) -> None:
    bad = sorted(t for t in GRAPH[module] if training_package(t))
    assert not bad, f"{module} (core) imports {bad}; only the CLI ({sorted(CLI_MODULES)}) may"


@pytest.mark.parametrize(("package", "other"), [("r1eval.distill", "r1eval.rl"), ("r1eval.rl", "r1eval.distill")])
def test_training_packages_share_code_through_the_core_only(package: str, other: str) -> None:
    """distill/ and rl/ share training code through r1eval/ (r1eval.training, r1eval.training_options), never
    by importing each other."""
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if training_package(m) == package
                 for t in targets if training_package(t) == other)
    assert not bad, bad


def test_training_folders_install_inside_r1eval() -> None:
    """rl/ and distill/ are reached as r1eval.rl and r1eval.distill; pyproject installs no bare top-level name."""
    import tomllib

    import r1eval.distill.filter
    import r1eval.rl.rewards

    assert Path(r1eval.rl.rewards.__file__).resolve() == REPO / "rl" / "rewards.py"
    assert Path(r1eval.distill.filter.__file__).resolve() == REPO / "distill" / "filter.py"
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["r1eval*"]
