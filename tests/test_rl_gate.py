"""`r1eval gate` on run directories built here: accepts, rejects and refuses bad input with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from r1eval.cli import main
from r1eval.metrics import paired_test, summarize
from r1eval.records import Sample
from r1eval.rundir import RunDir


def write_run(path: Path, bench: str, correct: dict[str, list[bool]], summary: bool = True,
              samples: bool = True) -> Path:
    """A run directory as `r1eval run` writes it: config.json, samples.jsonl, summary.json."""
    rows = [Sample(pid, i, i, "prompt", f"\\boxed{{{int(c)}}}", str(int(c)), c, 5, "stop", "1")
            for pid, cs in correct.items() for i, c in enumerate(cs)]
    rd = RunDir(path)
    rd.open({"bench": bench, "model": "m", "data_sha256": "d"})
    if samples:
        rd.append(rows)
    rd.close()
    if not samples:
        rd.samples_path.unlink()
    if summary:
        rd.write_summary(summarize(rows, bench=bench, model="m", n=len(next(iter(correct.values()))),
                                   equivalent=lambda a, b: a == b))
    return path


def runs(rate: float, problems: int = 40, n: int = 4, seed: int = 0, prefix: str = "p") -> dict[str, list[bool]]:
    rng = np.random.default_rng(seed)
    return {f"{prefix}{i}": [bool(x) for x in rng.random(n) < rate] for i in range(problems)}


def gate(capsys, *args: str) -> tuple[int, str]:
    code = main(["gate", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_identical_runs_are_non_inferior_but_not_better(tmp_path, capsys) -> None:
    data = runs(0.5)
    a, b = write_run(tmp_path / "a", "aime24", data), write_run(tmp_path / "b", "aime24", data)
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b))
    assert code == 0, out
    assert "difference +0.0000" in out and "ACCEPT" in out and "40 shared problems" in out
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b), "--mode", "better")
    assert code == 1 and "REJECT" in out


def test_clearly_better_candidate_is_accepted_as_better(tmp_path, capsys) -> None:
    a = write_run(tmp_path / "a", "math500", runs(0.2, seed=1))
    b = write_run(tmp_path / "b", "math500", runs(0.8, seed=2))
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b), "--mode", "better")
    assert code == 0 and "ACCEPT" in out, out
    # and the reverse direction is a regression: not non-inferior
    code, out = gate(capsys, "--baseline", str(b), "--candidate", str(a))
    assert code == 1 and "REJECT" in out, out


def test_small_drop_within_margin_is_non_inferior_larger_drop_is_not(tmp_path, capsys) -> None:
    base = {f"p{i}": [True] * 4 for i in range(100)}
    small = {f"p{i}": [True] * 4 if i >= 1 else [False] * 4 for i in range(100)}  # -1 point
    big = {f"p{i}": [True] * 4 if i >= 20 else [False] * 4 for i in range(100)}  # -20 points
    a = write_run(tmp_path / "a", "amc23", base)
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(write_run(tmp_path / "s", "amc23", small)))
    assert code == 0, out
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(write_run(tmp_path / "b", "amc23", big)))
    assert code == 1, out
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(tmp_path / "b"), "--margin", "0.3")
    assert code == 0, out


def test_shared_problems_only_and_other_metrics(tmp_path, capsys) -> None:
    a = write_run(tmp_path / "a", "aime24", runs(0.5, problems=30))
    b = write_run(tmp_path / "b", "aime24", {**runs(0.5, problems=30), **runs(0.9, problems=5, prefix="extra")})
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b))
    assert code == 0 and "30 shared problems" in out, out
    for metric in ("pass@2", "pass@4", "cons@4"):
        code, out = gate(capsys, "--baseline", str(a), "--candidate", str(b), "--metric", metric)
        assert code == 0 and metric in out, out
    # a run directory with only summary.json (no samples) still gates on pass@1
    c = write_run(tmp_path / "c", "aime24", runs(0.5, problems=30), samples=False)
    assert gate(capsys, "--baseline", str(a), "--candidate", str(c))[0] == 0


@pytest.mark.parametrize("case", ["benches", "disjoint", "missing", "k_too_big", "bad_metric", "no_summary"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case: str) -> None:
    a = write_run(tmp_path / "a", "aime24", runs(0.5))
    other = {
        "benches": lambda: write_run(tmp_path / "b", "aime25", runs(0.5)),
        "disjoint": lambda: write_run(tmp_path / "b", "aime24", runs(0.5, prefix="q")),
        "missing": lambda: tmp_path / "nope",
        "k_too_big": lambda: write_run(tmp_path / "b", "aime24", runs(0.5)),
        "bad_metric": lambda: write_run(tmp_path / "b", "aime24", runs(0.5)),
        "no_summary": lambda: write_run(tmp_path / "b", "aime24", runs(0.5), summary=False, samples=False),
    }[case]()
    extra = {"k_too_big": ["--metric", "pass@8"], "bad_metric": ["--metric", "accuracy"]}.get(case, [])
    code, out = gate(capsys, "--baseline", str(a), "--candidate", str(other), *extra)
    assert code == 2, out
    assert out.startswith("r1eval: error:") and len(out.strip().splitlines()) == 1 and "Traceback" not in out


def test_gate_subprocess_exit_code(tmp_path) -> None:
    import os
    import subprocess
    import sys

    a = write_run(tmp_path / "a", "aime24", runs(0.2, seed=3))
    b = write_run(tmp_path / "b", "aime24", runs(0.9, seed=4))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-m", "r1eval.cli", "gate", "--baseline", str(a), "--candidate", str(b),
                           "--mode", "better"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "decision: ACCEPT" in proc.stdout
    json.loads((a / "config.json").read_text())  # untouched


def test_paired_test_properties() -> None:
    rng = np.random.default_rng(0)
    b = rng.random(50)
    same = paired_test(b, b)
    assert same.diff == 0 and same.ci == (0.0, 0.0) and same.p_value == 1.0
    up = paired_test(b, np.minimum(b + 0.3, 1))
    assert up.ci[0] > 0 and up.p_value < 0.01 and up.lower_bound > 0
    with pytest.raises(ValueError):
        paired_test([], [])
