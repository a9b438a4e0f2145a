"""Codeforces: loader on our own fixture in the open-r1/codeforces schema, sandbox judging, summary rating."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.codeforces import problems_from_rows
from r1eval.cli import main
from r1eval.errors import UsageError
from r1eval.metrics import summarize
from r1eval.records import Sample, read_jsonl

FIXTURE = Path(__file__).parent / "fixtures" / "codeforces_small.jsonl"
SUM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
DIFF = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
REVERSE = "```python\nprint(' '.join(input().split()[::-1]))\n```"
SLOW = "```python\nn = int(input())\nwhile True:\n    n += 1\n```"
FAST_SUM = "```python\nn = int(input())\nprint(n * (n + 1) // 2 % (10**9 + 7))\n```"


def test_loader_skips_interactive_and_checker_problems(capsys: pytest.CaptureFixture[str]) -> None:
    bench = get_bench("codeforces")
    problems = bench.load(LoadOptions(data=FIXTURE))
    assert [p.id for p in problems] == ["9001/A", "9001/B", "9001/C", "9001/F"]
    assert bench.skipped == {"interactive": 1, "custom checker": 1}
    assert "skipped 1 custom checker, 1 interactive" in capsys.readouterr().err
    a = problems[0]
    assert a.meta["rating"] == 800 and a.meta["time_limit"] == 1.0 and a.meta["memory_limit"] == 256
    assert len(a.meta["tests"]) == 3 and a.meta["test_source"] == "official_tests"
    text = a.messages[0]["content"]
    assert "time limit per test: 1 seconds" in text and "1 2" in text and "```python" in text


def test_loader_rejects_rows_outside_the_schema() -> None:
    with pytest.raises(UsageError, match="contest_id, index and description"):
        problems_from_rows([{"title": "x"}], "rows.jsonl")
    row = {**read_jsonl(FIXTURE)[0], "official_tests": [], "examples": []}
    with pytest.raises(UsageError, match="no official_tests and no examples"):
        problems_from_rows([row], "rows.jsonl")


@pytest.mark.sandbox
def test_sandbox_judging_with_problem_limits() -> None:
    bench = get_bench("codeforces")
    by_id = {p.id: p for p in bench.load(LoadOptions(data=FIXTURE))}
    verdicts = bench.grade([(by_id["9001/A"], f"<think>add</think>\n{SUM}"), (by_id["9001/A"], DIFF),
                            (by_id["9001/B"], REVERSE), (by_id["9001/B"], "no code"),
                            (by_id["9001/C"], SLOW), (by_id["9001/C"], FAST_SUM)])
    assert [v.correct for v in verdicts] == [True, False, True, False, False, True]
    assert [v.detail["verdict"] for v in verdicts] == ["passed", "wrong_answer", "passed", "no_code", "timeout",
                                                       "passed"]
    assert "(1 s)" in verdicts[4].detail["error"]  # the problem's own time limit


@pytest.mark.sandbox
def test_summary_carries_rating() -> None:
    bench = get_bench("codeforces")
    problems = bench.load(LoadOptions(data=FIXTURE))
    by_id = {p.id: p for p in problems}
    plan = {"9001/A": [SUM, SUM, SUM, DIFF], "9001/B": [REVERSE, "none", "none", "none"],
            "9001/C": [SLOW, SLOW, SLOW, SLOW], "9001/F": ["none"] * 4}
    items = [(by_id[pid], c) for pid, cs in plan.items() for c in cs]
    verdicts = bench.grade(items)
    samples = [Sample(p.id, i % 4, 0, "", c, v.extracted_answer, v.correct, 1, "stop", None, v.detail)
               for i, ((p, c), v) in enumerate(zip(items, verdicts, strict=True))]
    summary = summarize(samples, bench="codeforces", model="m", n=4, equivalent=None)
    extra = bench.extra_summary(summary, samples, problems)
    assert extra["unrated_problems"] == 1 and extra["skipped_problems"] == {"interactive": 1, "custom checker": 1}
    lo, hi = extra["rating_ci95"]
    assert lo <= extra["rating"] <= hi
    assert extra["rating_estimate"]["num_problems"] == 3  # the unrated problem is left out
    # 3/4 at 800, 1/4 at 1200, 0/4 at 1600: between the problems it partly solves
    assert 800 < extra["rating"] < 1300


@pytest.mark.sandbox
def test_grade_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"problem_id": "9001/A", "completion": SUM}, {"problem_id": "9001/B", "completion": DIFF}]
    inp = tmp_path / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["grade", "--bench", "codeforces", "--data", str(FIXTURE), "--input", str(inp)]) == 0
    assert "accuracy 0.5000 (1/2)" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem_id": "9001/D", "completion": SUM}) + "\n")  # skipped: interactive
    assert main(["grade", "--bench", "codeforces", "--data", str(FIXTURE), "--input", str(bad)]) == 2


CPP_SUM = "```cpp\n#include <cstdio>\nint main(){ long a, b; scanf(\"%ld %ld\", &a, &b); printf(\"%ld\\n\", a + b); }\n```"
CPP_DIFF = "```c++\n#include <cstdio>\nint main(){ long a, b; scanf(\"%ld %ld\", &a, &b); printf(\"%ld\\n\", a - b); }\n```"


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed (.ci/run installs it)")
def test_cpp_answers_compiled_once_judged_per_test_under_the_problems_limits(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from r1eval.grading.sandbox import builds

    bench = get_bench("codeforces")
    problems = {p.id: p for p in bench.load(LoadOptions(data=FIXTURE, extra={"language": "cpp"}))}
    text = problems["9001/A"].messages[0]["content"]
    assert "in C++17 (compiled with g++ -std=c++17 -O2)" in text and "```cpp" in text and "```python" not in text
    assert bench.provenance()["language"] == "cpp"
    before = builds.BUILDS.compiles
    slow = "```cpp\nint main(){ volatile long n = 0; for(;;) n++; }\n```"
    hog = "```cpp\n#include <vector>\n#include <cstdio>\nint main(){ std::vector<char> v(600u << 20, 1); printf(\"%d\", v[9]); }\n```"
    broken = "```cpp\nint main() { return missing; }\n```"
    verdicts = bench.grade([(problems["9001/A"], f"<think>add</think>\n{CPP_SUM}"), (problems["9001/A"], CPP_DIFF),
                            (problems["9001/A"], SUM), (problems["9001/C"], slow), (problems["9001/A"], hog),
                            (problems["9001/A"], broken)])
    assert [v.detail["verdict"] for v in verdicts] == ["passed", "wrong_answer", "passed", "timeout", "memory_limit",
                                                       "compile_error"]
    assert verdicts[0].detail["tests_passed"] == 3 and verdicts[0].detail["language"] == "cpp"
    assert "language" not in verdicts[2].detail  # the ```python block is graded as Python
    assert "(1 s)" in verdicts[3].detail["error"]  # the problem's own time limit
    assert "missing" in verdicts[5].detail["error"]
    assert builds.BUILDS.compiles - before == 5  # five C++ programs, each compiled once for all its tests
    rows = [{"id": 1, "problem_id": "9001/A", "completion": CPP_SUM}, {"id": 2, "problem_id": "9001/A", "completion": CPP_DIFF},
            {"id": 3, "problem_id": "9001/B", "completion": REVERSE}]
    inp = tmp_path / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["grade", "--bench", "codeforces", "--language", "cpp", "--data", str(FIXTURE), "--input", str(inp)]) == 0
    assert "accuracy 0.6667 (2/3)" in capsys.readouterr().out
    assert main(["grade", "--bench", "codeforces", "--language", "rust", "--data", str(FIXTURE), "--input", str(inp)]) == 2
    assert "unknown language 'rust'" in capsys.readouterr().err
