"""A real run of the embedded SmolLM2-135M on 2 problems x 2 samples; kill -9 mid-run and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

RUN_ARGS = ["run", "--bench", "aime24", "--limit", "2", "-n", "2", "--max-tokens", "24", "--batch-size", "1",
            "--no-progress"]


def samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    proc = run_cli(*RUN_ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "pass@1" in proc.stdout and "cons@2" in proc.stdout
    return out


def test_run_directory_contents(full_run: Path) -> None:
    config = json.loads((full_run / "config.json").read_text())
    for key in ("model", "model_sha256", "bench", "data_sha256", "temperature", "top_p", "max_tokens", "n",
                "seed", "versions", "git_commit"):
        assert key in config, key
    assert config["temperature"] == 0.6 and config["top_p"] == 0.95 and config["n"] == 2
    rows = samples(full_run)
    assert sorted((r["problem_id"], r["sample_index"]) for r in rows) == [("60", 0), ("60", 1), ("61", 0), ("61", 1)]
    for r in rows:
        for key in ("prompt", "completion", "extracted_answer", "correct", "completion_tokens", "finish_reason", "seed"):
            assert key in r
        assert "Please reason step by step, and put your final answer within \\boxed{}." in r["prompt"]
        assert 0 < r["completion_tokens"] <= 24
        assert r["finish_reason"] in ("stop", "length")
    summary = json.loads((full_run / "summary.json").read_text())
    for key in ("bench", "model", "n_samples", "num_problems", "pass@1", "pass@1_ci95", "pass@k", "cons@2",
                "mean_completion_tokens", "truncation_rate"):
        assert key in summary, key
    assert summary["num_problems"] == 2 and summary["n_samples"] == 2
    assert set(summary["pass@k"]) == {"1", "2"}


def test_rerun_is_a_no_op_resume(full_run: Path) -> None:
    before = (full_run / "samples.jsonl").read_text()
    proc = run_cli(*RUN_ARGS, "--output", str(full_run))
    assert proc.returncode == 0, proc.stderr
    assert (full_run / "samples.jsonl").read_text() == before


def test_different_settings_refuse_to_mix(full_run: Path) -> None:
    proc = run_cli(*RUN_ARGS, "--temperature", "0.7", "--output", str(full_run))
    assert proc.returncode == 2 and "different temperature" in proc.stderr


def test_kill_9_then_resume_gives_same_samples_and_summary(full_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "r1eval.cli", *RUN_ARGS, "--output", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sample_file = out / "samples.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if sample_file.exists() and sample_file.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(samples(out)) < 4
    resumed = run_cli(*RUN_ARGS, "--output", str(out))
    assert resumed.returncode == 0, resumed.stderr
    rows = samples(out)
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4  # no duplicates, nothing missing
    by_key = {(r["problem_id"], r["sample_index"]): r["completion"] for r in samples(full_run)}
    assert {k: r["completion"] for k, r in zip(keys, rows, strict=True)} == by_key  # same seeds, same text
    drop = ("per_problem",)
    s1 = {k: v for k, v in json.loads((full_run / "summary.json").read_text()).items() if k not in drop}
    s2 = {k: v for k, v in json.loads((out / "summary.json").read_text()).items() if k not in drop}
    assert s1 == s2


def test_torn_last_line_is_repaired(tmp_path: Path, full_run: Path) -> None:
    out = tmp_path / "torn"
    out.mkdir()
    for name in ("config.json",):
        (out / name).write_text((full_run / name).read_text())
    lines = (full_run / "samples.jsonl").read_text().splitlines(keepends=True)
    (out / "samples.jsonl").write_text("".join(lines[:3]) + lines[3][:40])  # killed mid-write
    proc = run_cli(*RUN_ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(samples(out)) == 4
