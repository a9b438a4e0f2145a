"""`r1eval gate` says what it tests: unattainable alpha on few problems is refused in one line (exit 2) with
the number of problems needed, the hypothesis never prints `-0.0000`, and runs that differ in token cap,
grader version or bench data are flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1eval.cli import main
from r1eval.gate import min_problems
from r1eval.metrics import summarize
from r1eval.records import Sample
from r1eval.rundir import RunDir


def write_run(path: Path, correct: dict[str, list[bool]], **config) -> Path:
    rows = [Sample(pid, i, i, "prompt", "reply", str(int(c)), c, 5, "stop", "1")
            for pid, cs in correct.items() for i, c in enumerate(cs)]
    rd = RunDir(path)
    rd.open({"bench": "aime24", "model": "m", "data_sha256": "d", "max_tokens": 256, **config})
    rd.append(rows)
    rd.close()
    rd.write_summary(summarize(rows, bench="aime24", model="m", n=2, equivalent=lambda a, b: a == b))
    return path


def gate(capsys, *args: str) -> tuple[int, str]:
    code = main(["gate", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(("alpha", "needed"), [(0.05, 5), (0.125, 4), (0.01, 7), (0.5, 2)])
def test_min_problems_is_the_first_m_with_one_over_2_to_the_m_below_alpha(alpha: float, needed: int) -> None:
    assert min_problems(alpha) == needed
    assert 0.5**needed < alpha <= 0.5 ** (needed - 1)


def test_run_against_itself_on_three_problems_says_why_in_one_line(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "a", {f"p{i}": [True, False] for i in range(3)})
    code, out = gate(capsys, "--baseline", str(run), "--candidate", str(run))
    assert code == 2 and len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
    assert "3 shared problem(s) cannot reach --alpha 0.05" in out and "1/2^3 = 0.125" in out
    assert "at least 5 shared problems" in out
    # a larger alpha makes 3 problems enough (1/8 < 0.2): the same run is non-inferior to itself
    code, out = gate(capsys, "--baseline", str(run), "--candidate", str(run), "--alpha", "0.2")
    assert code == 0 and "decision: ACCEPT" in out, out


def test_five_problems_suffice_and_no_negative_zero(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "a", {f"p{i}": [True, False] for i in range(5)})
    # non-inferior: every shifted difference is +0.05, p = P(all 5 signs +) = 1/32 < 0.05
    code, out = gate(capsys, "--baseline", str(run), "--candidate", str(run))
    assert code == 0 and "H0 difference <= -0.0500 (non-inferior)" in out, out
    code, out = gate(capsys, "--baseline", str(run), "--candidate", str(run), "--mode", "better")
    assert code == 1 and "H0 difference <= +0.0000 (better)" in out, out
    assert "-0.0000" not in out and "difference +0.0000" in out


def test_token_cap_and_grader_differences_are_flagged(tmp_path: Path, capsys) -> None:
    data = {f"p{i}": [True, True] for i in range(10)}
    a = write_run(tmp_path / "a", data, bench_provenance={"grader": {"name": "r1eval-math", "version": "3"}})
    b = write_run(tmp_path / "b", data, max_tokens=64,
                  bench_provenance={"grader": {"name": "r1eval-math", "version": "2"}})
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b))
    assert code == 0, out
    assert "warning: baseline and candidate differ in token cap (max_tokens 256 vs 64)" in out
    assert "warning: baseline and candidate differ in grader version" in out


def test_help_says_what_each_mode_tests(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["gate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "accept unless" not in text
    assert "H0: candidate - baseline <= -margin rejected at --alpha" in text
    assert "H0: candidate - baseline <= 0 rejected at --alpha" in text
