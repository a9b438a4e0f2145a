"""The mini reproduction: its scripted teacher (correct and filter-clean without flaws, flawed at the set rates),
its size bar, its one-clean-commit provenance rule, and a smoke run of every stage."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from r1eval.distill.filter import FilterConfig, Trace, filter_traces
from r1eval.distill.mini_r1 import MiniConfig, teacher_trace

CLEAN = replace(MiniConfig(), slip_rate=0.0, loop_rate=0.0, foreign_rate=0.0, no_summary_rate=0.0)


def traces(cfg: MiniConfig, count: int) -> list[Trace]:
    rng = random.Random(0)
    out = []
    for i in range(count):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        out.append(Trace(f"p{i}", [{"role": "user", "content": f"What is {a} + {b}?"}], str(a + b),
                         teacher_trace(a, b, random.Random(i), cfg)))
    return out


def test_clean_teacher_is_always_correct_and_readable():
    kept, rejected = filter_traces(traces(CLEAN, 40), FilterConfig())
    assert len(kept) == 40 and not rejected


def test_flawed_teacher_is_rejected_for_the_right_reasons():
    cfg = replace(CLEAN, slip_rate=0.3, loop_rate=0.1, foreign_rate=0.1, no_summary_rate=0.1)
    kept, rejected = filter_traces(traces(cfg, 200), FilterConfig())
    reasons = {rs[0] for _, rs in rejected}
    assert {"incorrect", "format", "language", "repetition"} <= reasons
    assert 0.3 < len(kept) / 200 < 0.8


def test_full_configuration_can_say_something_and_small_ones_are_refused():
    from r1eval.distill.mini_r1 import SMOKE

    cfg = MiniConfig()
    cfg.check()
    assert cfg.test_problems >= 100 and cfg.eval_n >= 4 and cfg.max_truncation == 0.05
    assert cfg.grpo_steps >= 30  # the tiny-cpu preset needs about 30 steps to learn 2-digit addition
    with pytest.raises(SystemExit, match="100 problems"):
        replace(cfg, test_problems=40, eval_n=1).check()
    assert SMOKE.test_problems < 100  # the smoke configuration is only for checking the pipeline


def _stage_file(work, commits: dict[str, str], dirty: list[str] | None = None) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "stages.json").write_text(json.dumps({name: {"seconds": 1.0, "git_describe": c, "commit": c[:40],
                                                          "dirty": dirty or []} for name, c in commits.items()}))


def test_provenance_is_clean_only_for_one_clean_commit(tmp_path):
    from r1eval.distill.mini_r1 import Stages, run_provenance, stage_dir

    tree = {"describe": "a" * 40, "commit": "a" * 40, "dirty": []}
    _stage_file(tmp_path / "one", {"data": "a" * 40, "sft": "a" * 40})
    grpo = stage_dir(tmp_path / "one", "grpo")
    grpo.mkdir(parents=True)
    (grpo / "config.json").write_text(json.dumps({"git_commit": "a" * 40, "resumes": [{"git_commit": "a" * 40}]}))
    assert run_provenance(tmp_path / "one", Stages(tmp_path / "one", tree), tree)["clean"]
    # a resume from another commit, a dirty stage, or a run recorded as -dirty: not one clean commit
    (grpo / "config.json").write_text(json.dumps({"git_commit": "a" * 40, "resumes": [{"git_commit": "b" * 40}]}))
    mixed = run_provenance(tmp_path / "one", Stages(tmp_path / "one", tree), tree)
    assert not mixed["clean"] and mixed["commits"] == ["a" * 40, "b" * 40]
    _stage_file(tmp_path / "two", {"data": "a" * 40}, dirty=["rl/train.py"])
    assert not run_provenance(tmp_path / "two", Stages(tmp_path / "two", tree), tree)["clean"]
    _stage_file(tmp_path / "three", {"data": "a" * 40 + "-dirty"})
    assert not run_provenance(tmp_path / "three", Stages(tmp_path / "three", tree), tree)["clean"]


@pytest.mark.slow
def test_smoke_run_writes_a_report_with_compute_truncation_and_provenance(tmp_path):
    from r1eval.distill.mini_r1 import main

    work, out = tmp_path / "work", tmp_path / "out"
    assert main(["--smoke", "--work", str(work), "--out", str(out), "--allow-dirty"]) == 0
    text = (out / "report.md").read_text()
    for section in ("SMOKE TEST", "## What this found", "## Compute, side by side", "## Truncation",
                    "## How this was produced", "scripted solver", "## Results"):
        assert section in text, section
    mini = json.loads((out / "report.json").read_text())["mini_r1"]
    assert mini["smoke"] and mini["compute"]["rl"]["optimizer_steps"] == 2
    assert mini["compute"]["rl"]["tokens_generated"] > 0 and mini["compute"]["distilled"]["optimizer_steps"] >= 1
    assert mini["compute"]["distilled"]["tokens_generated"] > mini["compute"]["distilled"]["tokens_trained_on"] / 2
    assert set(mini["truncation"]) == {"base", "distilled", "rl"}
    assert mini["truncation_ok"] == all(v <= 0.05 for v in mini["truncation"].values())
    assert mini["provenance"]["commits"] and set(mini["stages"]) >= {
        "distilled/filter", "distilled/train", "rl/grpo", "eval/base/add2_heldout", "eval/rl/add2_heldout"}
    for arm in ("teacher", "base", "distilled", "rl"):
        summary = json.loads((out / "evals" / f"{arm}__add2_heldout" / "summary.json").read_text())
        assert summary["num_problems"] == 4 and summary["n_samples"] == 2
    assert (out / "evals" / "rl__add2_heldout" / "steps.jsonl").is_file()
    # a rerun finds every stage done and only rewrites the report
    stages_before = (work / "stages.json").read_text()
    assert main(["--smoke", "--work", str(work), "--out", str(out), "--allow-dirty"]) == 0
    assert (work / "stages.json").read_text() == stages_before
    # the training and evaluation stages are `r1eval loop`'s: the recipe mini_r1 wrote plans them all as done
    from r1eval.cli import build_parser
    from r1eval.loop import plan, read_recipe

    assert all(stage.finished for stage in plan(read_recipe(work / "recipe.yaml"), build_parser())[:-1])
