"""The orchestration modules ask components what they can do; they do not compare kind/backend/source names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["r1eval/runner.py", "r1eval/audit.py", "distill/filter.py", "rl/rewards.py"]
NAMES = {"kind", "backend", "source", "backend_name", "grader_family"}


def _named(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _string_compares(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        names = {_named(s) for s in sides} & NAMES
        strings = [s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)
                   or isinstance(s, (ast.Tuple, ast.Set, ast.List))
                   and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in s.elts)]
        if names and strings:
            found.append(f"{path.name}:{node.lineno}")
    return found


@pytest.mark.parametrize("module", MODULES)
def test_no_kind_or_backend_name_string_checks(module: str) -> None:
    assert _string_compares(ROOT / module) == []


def test_the_check_sees_a_kind_comparison(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text('if spec.model.source == "dir":\n    pass\nif backend in ("vllm", "openai"):\n    pass\n')
    assert _string_compares(sample) == ["m.py:1", "m.py:3"]
