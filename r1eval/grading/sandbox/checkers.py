"""LiveCodeBench and Codeforces test styles on top of the executor, and the stdout comparison.

- `outputs_match(got, expected, float_tol=None)`: LiveCodeBench's stdout check (line-wise after
  stripping; tokens compared as exact decimals); `float_tol` adds a Codeforces-style tolerance. Never
  raises, and costs time linear in its inputs.
- `run_stdin_tests` / `run_functional_tests` -> `TestsOutcome`: stdin/stdout programs (one sandboxed run
  per test; expected outputs stay in the harness) and LeetCode `class Solution` methods called with JSON
  arguments (one run; the judge process calls the method per test with its own time limit and compares
  with plain data). A problem passes only if every test passes; like the official runner, grading stops
  at the first failing test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from r1eval.errors import UsageError
from r1eval.grading.sandbox.executor import (
    CHECK_STDOUT_KEPT,
    DEFAULT_MEMORY_MB,
    DEFAULT_STDOUT_LIMIT,
    RunRequest,
    execute,
    run_program,
)

# LiveCodeBench prepends these imports to every solution (lcb_runner/evaluation/testing_util.py).
LCB_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)
MAX_NUMBER_CHARS = 4300  # longer tokens compare as text only (Python's own int-parsing limit)


@dataclass
class TestsOutcome:
    """A problem's verdict over its tests (the first failing test decides it)."""

    verdict: str
    detail: str
    tests_passed: int
    tests_total: int
    wall_s: float

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


_TOKEN = re.compile(r"\S+")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # finite decimals, no Decimal needed


def _lines(text: str) -> Iterator[str]:
    """The stripped lines of `text` (already stripped as a whole), one at a time."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:].strip()
            return
        yield text[start:end].strip()
        start = end + 1


def _finite_decimal(token: str) -> Decimal | None:
    try:
        number = Decimal(token)
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() else None  # NaN, sNaN, Infinity: text only (sNaN cannot even be compared)


def _lines_match(got: str, expected: str, tol: Decimal | None) -> bool:
    """Two differing lines match when both are the same number of tokens, every token a finite decimal,
    pairwise equal (or within `tol`). Tokens are read one pair at a time, and a Decimal is built only for
    a pair that differs as text: time linear in the lines, memory a few tokens."""
    got_tokens, expected_tokens = _TOKEN.finditer(got), _TOKEN.finditer(expected)
    for e_match in expected_tokens:
        g_match = next(got_tokens, None)
        if g_match is None:
            return False
        g, e = g_match.group(), e_match.group()
        if len(g) > MAX_NUMBER_CHARS or len(e) > MAX_NUMBER_CHARS:
            return False
        if g == e and _PLAIN_NUMBER.fullmatch(g):
            continue
        a, b = _finite_decimal(g), _finite_decimal(e)
        if a is None or b is None:
            return False
        if a == b:
            continue
        if tol is None or not abs(a - b) <= tol * max(Decimal(1), abs(b)):
            return False
    return next(got_tokens, None) is None


def outputs_match(got: str, expected: str, float_tol: float | None = None) -> bool:
    """LiveCodeBench's stdout check: same number of stripped lines, each equal as text or as a list
    of exact decimals. With float_tol, numbers also match within that absolute-or-relative tolerance.
    Never raises; time linear in the inputs and memory a few lines (a 32 MB output of short tokens is
    compared without a Decimal or a string per token)."""
    try:
        return _outputs_match(got, expected, float_tol)
    except (ArithmeticError, ValueError, TypeError, MemoryError):  # decimal overflow on absurd exponents
        return False


def _outputs_match(got: str, expected: str, float_tol: float | None) -> bool:
    if got == expected:
        return True
    got, expected = got.strip(), expected.strip()
    if got.count("\n") != expected.count("\n"):
        return False
    tol = Decimal(str(float_tol)) if float_tol is not None else None
    for g, e in zip(_lines(got), _lines(expected), strict=True):
        if g != e and not _lines_match(g, e, tol):
            return False
    return True


def _truncate(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n // 2] + " ... " + text[-n // 2:]


def stdout_limit_for(expected: str) -> int:
    """How much stdout a program may write for this expected output: far more than any matching output
    needs (16x plus 1 MiB: decimals such as 0.5000000000000000 vs 0.5 still fit), far less than a flood."""
    return min(DEFAULT_STDOUT_LIMIT, 16 * len(expected.encode("utf-8", "replace")) + (1 << 20))


def run_stdin_tests(source: str, tests: Sequence[tuple[str, str]], *, timeout_s: float = 6.0,
                    memory_mb: int = DEFAULT_MEMORY_MB, float_tol: float | None = None,
                    add_lcb_imports: bool = True, language: str = "python") -> TestsOutcome:
    """Run a stdin/stdout program once per (input, expected output) test, in order, stopping at the
    first failure. `add_lcb_imports` prepends LiveCodeBench's standard imports (Python) as its runner does.
    Another `language` (e.g. 'cpp') is compiled once, before the first test; a program that does not
    compile is a `compile_error` with no test run."""
    from r1eval.grading.sandbox.builds import compile_program, run_native

    python = language == "python"
    program = (LCB_IMPORTS + "\n" + source) if add_lcb_imports and python else source
    total_wall = 0.0
    i = 0
    try:
        if not python:
            build = compile_program(language, program)
            if not build.ok:
                return TestsOutcome(build.error.verdict, build.error.detail, 0, len(tests), 0.0)
        for i, (test_in, test_out) in enumerate(tests):
            if python:
                res = run_program(program, stdin=test_in, timeout_s=timeout_s, memory_mb=memory_mb,
                                  stdout_limit=stdout_limit_for(test_out))
            else:
                res = run_native(language, program, stdin=test_in, timeout_s=timeout_s, memory_mb=memory_mb,
                                 stdout_limit=stdout_limit_for(test_out))
            total_wall += res.wall_s
            if res.passed and not outputs_match(res.stdout, test_out, float_tol):
                res.verdict = "wrong_answer"
                res.detail = (f"expected {_truncate(test_out.strip())!r}, "
                              f"got {_truncate(res.stdout.strip())!r}")
            if not res.passed:
                return TestsOutcome(res.verdict, f"test {i + 1}/{len(tests)}: {res.detail}", i, len(tests),
                                    total_wall)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - this sample's verdict, never the batch's
        return TestsOutcome("grader_error", f"test {i + 1}/{len(tests)}: {type(exc).__name__}: {exc}"[:300], i,
                            len(tests), total_wall)
    return TestsOutcome("passed", "", len(tests), len(tests), total_wall)


def run_functional_tests(source: str, func_name: str, tests: Sequence[tuple[str, str]], *,
                         timeout_s: float = 6.0, memory_mb: int = DEFAULT_MEMORY_MB,
                         add_lcb_imports: bool = True) -> TestsOutcome:
    """LeetCode-style tests the LiveCodeBench way: each input is newline-separated JSON arguments, each
    output one JSON value; `Solution().<func_name>(*args)` (or a top-level function) must return a value
    equal to it (a tuple counts as a list). The program's top-level code and each call get `timeout_s`
    of wall time, measured by the judge. Expected outputs are read only by the judge's process."""
    program = (LCB_IMPORTS + "\n" + source) if add_lcb_imports else source
    n = len(tests)
    try:
        spec = {"kind": "functional", "func_name": func_name, "tests": [[str(a), str(b)] for a, b in tests],
                "test_timeout_s": float(timeout_s), "use_class": "class Solution" in program}
        res = execute(RunRequest(
            "functional", program, "solution", judge=spec, wall_s=(timeout_s + 0.5) * (n + 2) + 2,
            cpu_s=int(timeout_s * (n + 2)) + 1, memory_mb=memory_mb, stdout_kept=CHECK_STDOUT_KEPT,
            timeout_label=timeout_s))
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        return TestsOutcome("grader_error", f"{type(exc).__name__}: {exc}"[:300], 0, n, 0.0)
    if res.passed:
        return TestsOutcome("passed", "", n, n, res.wall_s)
    return TestsOutcome(res.verdict, res.detail, res.tests_passed or 0, n, res.wall_s)
