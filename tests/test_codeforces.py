"""Codeforces: loader on our own fixture in the open-r1/codeforces schema, sandbox judging, summary rating."""

from __future__ import annotations

import json
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
