"""Grader v4 and runs graded before it: resuming a v3 run is refused in one line (exit 2) naming the regrade,
and `r1eval grade --run DIR` regrades it in place so that it resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1eval.benches import get_bench
from r1eval.cli import main
from r1eval.errors import UsageError
from r1eval.grading.math import MATH_GRADER_VERSION
from r1eval.metrics import summarize
from r1eval.records import Sample
from r1eval.rundir import RunDir, read_samples

THINK = "<think>\nworking it out\n</think>\n\n"


def _v3_run(path: Path) -> tuple[Path, dict]:
    """A math500 run of 2 problems x 2 samples as grader v3 left it: one verdict v4 reverses (a reply cut
    inside its box, which v3 read as an answer)."""
    problems = get_bench("math500").load(__import__("r1eval.benches", fromlist=["LoadOptions"]).LoadOptions())[:2]
    completions = [[THINK + f"So the answer is $\\boxed{{{problems[0].gold}}}$.", THINK + "\\boxed{" + str(problems[0].gold)],
                   [THINK + "The answer is $\\boxed{7}$.", THINK + f"Hence $\\boxed{{{problems[1].gold}}}$."]]
    v3_correct = [[True, True], [str(problems[1].gold) == "7", True]]
    samples = [Sample(p.id, i, i, "prompt", completions[j][i], str(p.gold), v3_correct[j][i], 20, "stop", p.gold,
                      {"extraction": "boxed", "backend": {"logprob": -1.0}})
               for j, p in enumerate(problems) for i in range(2)]
    config = {"bench": "math500", "model": "m", "data": "bundled", "data_options": {}, "n": 2, "limit": 2,
              "max_tokens": 256, "bench_provenance": {"grader": {"name": "r1eval-math", "version": "3",
                                                                  "math_verify": "0.9.0"}}}
    run_dir = RunDir(path)
    run_dir.open(config)
    run_dir.append(samples)
    run_dir.close()
    run_dir.write_summary(summarize(samples, bench="math500", model="m", n=2, equivalent=lambda a, b: a == b))
    return path, config


def test_the_grader_is_v4() -> None:
    assert MATH_GRADER_VERSION == "4"
    assert get_bench("math500").provenance()["grader"]["version"] == "4"


def test_resuming_a_v3_run_is_refused_in_one_line_naming_the_regrade(tmp_path: Path) -> None:
    path, config = _v3_run(tmp_path / "run")
    now = {**config, "bench_provenance": get_bench("math500").provenance()}
    with pytest.raises(UsageError) as refused:
        RunDir(path).refuse_changed_identity(now)
    message = str(refused.value)
    assert "\n" not in message and "r1eval-math v3" in message and "v4" in message
    assert f"r1eval grade --run {path}" in message
    # another grader altogether keeps the general refusal
    other = {**now, "bench_provenance": {"grader": {"name": "r1eval-mcq", "version": "2"}}}
    with pytest.raises(UsageError, match="holds a run with different bench_provenance"):
        RunDir(path).refuse_changed_identity(other)


def test_regrade_rewrites_verdicts_config_and_summary_then_the_run_resumes(tmp_path: Path, capsys) -> None:
    path, config = _v3_run(tmp_path / "run")
    assert main(["grade", "--run", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"regraded 4 samples of {path} with r1eval-math v4" in out
    samples = read_samples(path / "samples.jsonl", strict=True)
    cut = next(s for s in samples if s.completion.endswith("\\boxed{" + str(s.gold)))
    assert cut.correct is False and cut.extracted_answer is None  # v3 took the cut box for an answer
    assert all(s.detail.get("backend") == {"logprob": -1.0} for s in samples)  # what the backend recorded stays
    written = json.loads((path / "config.json").read_text())
    assert written["bench_provenance"]["grader"]["version"] == "4"
    assert written["regraded"][0]["from"]["version"] == "3" and written["regraded"][0]["to"]["version"] == "4"
    summary = json.loads((path / "summary.json").read_text())
    assert summary["grader"]["version"] == "4" and summary["pass@1"] == sum(s.correct for s in samples) / 4
    RunDir(path).refuse_changed_identity({**config, "bench_provenance": get_bench("math500").provenance()})


def test_grade_needs_input_or_run(capsys) -> None:
    assert main(["grade"]) == 2
    assert "--input FILE" in capsys.readouterr().err
    assert main(["grade", "--run", "/nonexistent/run"]) == 2
