"""A real run of the embedded SmolLM2-135M on 2 problems x 2 samples; kill -9 mid-run and resume. Reruns and
refusals call `main(argv)` in-process (`main_cli`); what needs a real process (kill -9, two processes at once)
runs `python -m r1eval.cli`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_model_dir, run_cli

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


def test_rerun_is_a_no_op_resume(full_run: Path, main_cli) -> None:
    before = (full_run / "samples.jsonl").read_text()
    proc = main_cli(*RUN_ARGS, "--output", str(full_run))
    assert proc.returncode == 0, proc.stderr
    assert (full_run / "samples.jsonl").read_text() == before


def test_different_settings_refuse_to_mix(full_run: Path, main_cli) -> None:
    proc = main_cli(*RUN_ARGS, "--temperature", "0.7", "--output", str(full_run))
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
    # summary_key fingerprints samples.jsonl as a file (size, modification time), not the results
    drop = ("per_problem", "summary_key")
    s1 = {k: v for k, v in json.loads((full_run / "summary.json").read_text()).items() if k not in drop}
    s2 = {k: v for k, v in json.loads((out / "summary.json").read_text()).items() if k not in drop}
    assert s1 == s2


def test_torn_last_line_is_repaired(tmp_path: Path, full_run: Path, main_cli) -> None:
    out = tmp_path / "torn"
    out.mkdir()
    for name in ("config.json",):
        (out / name).write_text((full_run / name).read_text())
    lines = (full_run / "samples.jsonl").read_text().splitlines(keepends=True)
    (out / "samples.jsonl").write_text("".join(lines[:3]) + lines[3][:40])  # killed mid-write
    proc = main_cli(*RUN_ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(samples(out)) == 4


def test_summary_keys_agree_with_the_samples(full_run: Path) -> None:
    rows = samples(full_run)
    summary = json.loads((full_run / "summary.json").read_text())
    assert summary["complete"] is True and summary["missing_samples"] == 0
    assert list(summary["pass@1_at_budget"]) == ["3", "6", "12", "24"]  # --max-tokens 24: max/8 ... max
    for budget, value in summary["pass@1_at_budget"].items():
        per_problem = {}
        for r in rows:
            per_problem.setdefault(r["problem_id"], []).append(r["correct"] and r["completion_tokens"] <= int(budget))
        assert value == sum(sum(v) / len(v) for v in per_problem.values()) / len(per_problem)
    incorrect = sorted(r["completion_tokens"] for r in rows if not r["correct"])
    if incorrect:
        assert summary["length_stats"]["incorrect"]["count"] == len(incorrect)
        assert summary["length_stats"]["incorrect"]["mean"] == sum(incorrect) / len(incorrect)
    unclosed = sum("<think>" in r["completion"] and "</think>" not in r["completion"] for r in rows)
    assert summary["unclosed_think_rate"] == unclosed / len(rows)
    assert 0.0 <= summary["mixed_language_rate"] <= 1.0
    config = json.loads((full_run / "config.json").read_text())
    assert config["backend"] == "transformers" and config["backend_requested"] == "auto"
    assert config["dtype"] == "float32" and len(config["tokenizer_sha256"]) == 64
    assert config["effective_sampling"]["repetition_penalty"] == 1.0 and config["top_k"] == 0
    assert (full_run / "run.lock").read_text().strip().isdigit()  # the PID of the last writer


def test_identity_changes_are_refused(full_run: Path, main_cli) -> None:
    proc = main_cli(*RUN_ARGS, "--dtype", "bfloat16", "--output", str(full_run))
    assert proc.returncode == 2 and "different dtype" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = main_cli(*RUN_ARGS, "--system-prompt", "Be brief.", "--output", str(full_run))
    assert proc.returncode == 2 and "different system_prompt" in proc.stderr


def test_tear_at_the_newline_then_resume(full_run: Path, tmp_path: Path, main_cli) -> None:
    out = tmp_path / "tear"
    out.mkdir()
    (out / "config.json").write_text((full_run / "config.json").read_text())
    lines = (full_run / "samples.jsonl").read_text().splitlines(keepends=True)
    (out / "samples.jsonl").write_text("".join(lines[:3]).removesuffix("\n"))  # 3rd record complete, no "\n"
    proc = main_cli(*RUN_ARGS, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    text = (out / "samples.jsonl").read_text()
    assert text.endswith("\n") and len(text.splitlines()) == 4
    assert sorted((r["problem_id"], r["sample_index"]) for r in samples(out)) == [("60", 0), ("60", 1), ("61", 0),
                                                                               ("61", 1)]


def _popen(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "r1eval.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_concurrent_runs_of_one_command(tmp_path: Path) -> None:
    """Two processes, one command, one directory: one writes, the other exits 2 naming the writer's PID;
    with --wait-lock the second waits and then has nothing left to do. Never a duplicate row."""
    out = tmp_path / "run"
    procs = [_popen([*RUN_ARGS, "--output", str(out)]) for _ in range(2)]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [err for _, _, err in results]
    (winner, _, _), (loser, _, err) = sorted(results, key=lambda r: r[0].returncode)
    assert f"being written by another r1eval run (PID {winner.pid})" in err and len(err.strip().splitlines()) == 1
    keys = [(r["problem_id"], r["sample_index"]) for r in samples(out)]
    assert len(keys) == len(set(keys)) == 4

    queued = tmp_path / "queued"
    procs = [_popen([*RUN_ARGS, "--wait-lock", "--output", str(queued)]) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    keys = [(r["problem_id"], r["sample_index"]) for r in samples(queued)]
    assert len(keys) == len(set(keys)) == 4


def test_hostile_generation_config_changes_nothing(tmp_path: Path, main_cli) -> None:
    """A model directory whose generation_config.json sets a repetition penalty, top-k, n-gram blocking,
    a minimum length and a low temperature gives exactly the completions of a clean copy (issue 13)."""
    from r1eval.models import embedded_model, hf_model_dir

    source = Path(hf_model_dir(embedded_model(), "float32"))
    hostile_settings = {"repetition_penalty": 1.5, "top_k": 3, "no_repeat_ngram_size": 1, "min_new_tokens": 20,
                        "temperature": 0.2, "do_sample": True}
    clean = copy_model_dir(source, tmp_path / "clean")
    hostile = copy_model_dir(source, tmp_path / "hostile", hostile_settings)
    runs = {}
    for name, model in (("clean", clean), ("hostile", hostile)):
        proc = main_cli(*RUN_ARGS, "--model", str(model), "--output", str(tmp_path / f"run-{name}"))
        assert proc.returncode == 0, proc.stderr
        runs[name] = ({(r["problem_id"], r["sample_index"]): r["completion"] for r in samples(tmp_path / f"run-{name}")},
                      proc.stderr)
    assert runs["clean"][0] == runs["hostile"][0]
    note = [ln for ln in runs["hostile"][1].splitlines() if ln.startswith("note:")]
    assert len(note) == 1 and "repetition_penalty=1.5" in note[0] and "no_repeat_ngram_size=1" in note[0]
    assert "--repetition-penalty 1.5" in note[0] and "not applied" in note[0]
    assert not [ln for ln in runs["clean"][1].splitlines() if ln.startswith("note:")]
    config = json.loads((tmp_path / "run-hostile" / "config.json").read_text())
    assert config["model_generation_config"] == hostile_settings
    assert config["repetition_penalty"] == 1.0 and config["effective_sampling"]["no_repeat_ngram_size"] == 0


def test_system_prompt_and_chat_template_kwargs(tmp_path: Path, main_cli) -> None:
    out = tmp_path / "run"
    proc = main_cli(*RUN_ARGS, "--limit", "1", "-n", "1", "--system-prompt", "You are a careful mathematician.",
                   "--chat-template-kwargs", '{"enable_thinking": true}', "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = samples(out)
    assert row["prompt"].startswith("<|im_start|>system\nYou are a careful mathematician.<|im_end|>")
    assert "Please reason step by step" in row["prompt"]
    config = json.loads((out / "config.json").read_text())
    assert config["system_prompt"] == "You are a careful mathematician."
    assert config["chat_template_kwargs"] == {"enable_thinking": True}
