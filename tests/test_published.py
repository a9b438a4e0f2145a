"""The paper's published scores: matched by model name, compared with the run (consistent / inconsistent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.loopback import LoopbackServer, bench_golds
from r1eval.published import distill_model, published_block, published_line, published_scores
from r1eval.records import sample_seed

SERVED = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
N = 16


def test_table_is_the_papers() -> None:
    rows = {(r["model"], r["bench"], r["metric"]): r["reported"] for r in published_scores()}
    assert len(rows) == 36  # 6 models x (AIME pass@1, cons@64, MATH-500, GPQA-Diamond, LiveCodeBench, rating)
    assert rows[("DeepSeek-R1-Distill-Qwen-1.5B", "aime24", "pass@1")] == 28.9
    assert rows[("DeepSeek-R1-Distill-Qwen-7B", "math500", "pass@1")] == 92.8
    assert rows[("DeepSeek-R1-Distill-Llama-70B", "aime24", "cons@64")] == 86.7
    assert rows[("DeepSeek-R1-Distill-Qwen-32B", "codeforces", "rating")] == 1691
    assert all("arXiv:2501.12948" in r["source"] for r in published_scores())


@pytest.mark.parametrize(("name", "model"), [
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill-Qwen-7B"),
    ("/models/DeepSeek-R1-Distill-Llama-8B", "DeepSeek-R1-Distill-Llama-8B"),
    ("deepseek-r1-distill-qwen-1.5b-q8_0.gguf", "DeepSeek-R1-Distill-Qwen-1.5B"),
    ("DeepSeek-R1-Distill-Qwen-3B", None), ("Qwen2.5-7B", None)])
def test_model_names(name: str, model: str | None) -> None:
    assert distill_model(name) == model


def test_no_block_for_other_models_or_benches() -> None:
    summary = {"bench": "amc23", "model": SERVED, "pass@1": 0.5, "per_problem": []}
    assert published_block(summary, {"model": SERVED}) is None
    assert published_block({**summary, "bench": "aime24"}, {"model": "Qwen2.5-7B"}) is None


def correct_at(rate_per_problem: int):
    """The first `rate_per_problem` of each problem's N samples (by sample index) are answered right."""
    from r1eval.benches import LoadOptions, get_bench

    wanted = {}
    for p in get_bench("aime24").load(LoadOptions()):
        for i in range(N):
            wanted[(sample_seed(0, p.id, i), p.messages[-1]["content"])] = i < rate_per_problem
    return lambda seed, prompt: wanted[(seed, prompt)]


@pytest.mark.parametrize(("right", "verdict"), [(5, "consistent"), (2, "inconsistent")])
def test_published_block_for_a_served_distill_model(cli, tmp_path: Path, right: int, verdict: str) -> None:
    """A served model named like DeepSeek-R1-Distill-Qwen-1.5B on aime24 answering 5/16 (0.3125; paper 28.9)
    or 2/16 (0.125) of each problem's samples right."""
    server = LoopbackServer(SERVED, bench_golds("aime24"), median_tokens=200, correct_for=correct_at(right)).start()
    try:
        out = tmp_path / "run"
        result = cli("run", "--backend", "openai", "--base-url", server.url, "--model", SERVED, "--bench", "aime24",
                     "-n", str(N), "--max-tokens", "4096", "--output", str(out), "--no-progress")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == pytest.approx(right / N)
    published = summary["published"]
    assert published["model"] == "DeepSeek-R1-Distill-Qwen-1.5B" and published["metric"] == "pass@1"
    assert published["value"] == pytest.approx(0.289) and published["n"] == 64 and "0.6" in published["protocol"]
    assert "arXiv:2501.12948" in published["source"]
    assert published["verdict"] == verdict
    lo, hi = published["interval95"]
    assert (lo <= 0.289 <= hi) == (verdict == "consistent")
    assert (published["p_value"] >= 0.05) == (verdict == "consistent")
    assert "also" not in published  # cons@64 is compared only at n = 64
    line = published_line(published)
    assert f"published 28.9, this run {100 * right / N:.1f} [" in line and f": {verdict}" in line
    assert line in result.stdout  # the end-of-run table prints it
    if verdict == "inconsistent":
        assert "max tokens 4096 < 32768" in published["likely_causes"]
    else:
        assert "likely_causes" not in published
    report = tmp_path / "report"
    assert cli("report", str(out), "--out", str(report)).returncode == 0
    assert "published 28.9" in (report / "report.md").read_text()
