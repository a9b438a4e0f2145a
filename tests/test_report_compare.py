"""The report's comparison parts against hand-computed values: the settings-difference table and default
labels (two runs differing only in temperature), the flipped problems, the not-comparable warnings, and
training directories (as inputs and followed from an evaluated checkpoint) with their compute."""

from __future__ import annotations

import json
from pathlib import Path

from r1eval.cli import main
from r1eval.compare import flipped_problems
from r1eval.lineage import training_source
from r1eval.metrics import summarize
from r1eval.records import Sample
from r1eval.rundir import RunDir

BASE_CONFIG = {"bench": "toy", "model": "runs/student/final", "data_sha256": "d" * 64, "temperature": 0.6,
               "top_p": 0.95, "max_tokens": 256, "seed": 0, "bench_provenance": {"grader": {"name": "r1eval-math",
                                                                                          "version": "3"}}}
# per-problem correctness of each sample (n = 2): run A and run B
A = {"q0": [1, 1], "q1": [1, 0], "q2": [0, 0], "q3": [0, 0], "q4": [1, 1], "q5": [0, 1]}
B = {"q0": [0, 0], "q1": [0, 0], "q2": [1, 1], "q3": [1, 0], "q4": [0, 1], "q5": [1, 1]}
# right = at least half the samples correct. q0 1.0->0.0 lost, q1 0.5->0.0 lost, q2 0.0->1.0 gained,
# q3 0.0->0.5 gained; q4 (1.0->0.5) and q5 (0.5->1.0) are right in both.
EXPECTED_FLIPS = [("q0", 1.0, 0.0, "lost"), ("q2", 0.0, 1.0, "gained"), ("q1", 0.5, 0.0, "lost"),
                  ("q3", 0.0, 0.5, "gained")]


def make_run(path: Path, correct: dict[str, list[int]], **config) -> None:
    run = RunDir(path)
    run.open({**BASE_CONFIG, **config})
    samples = [Sample(pid, i, i, "prompt", f"reply {pid} {i}", "1" if ok else "0", bool(ok), 10 + i, "stop", "1")
               for pid, oks in correct.items() for i, ok in enumerate(oks)]
    run.append(samples)
    run.close()
    run.write_summary(summarize(samples, bench="toy", model=config.get("model", BASE_CONFIG["model"]), n=2,
                                equivalent=lambda a, b: a == b))


def test_flipped_problems_hand_computed():
    pa = {p: sum(v) / len(v) for p, v in A.items()}
    pb = {p: sum(v) / len(v) for p, v in B.items()}
    got = [(f["problem_id"], f["baseline"], f["candidate"], f["direction"]) for f in flipped_problems(pa, pb)]
    assert got == EXPECTED_FLIPS


def test_temperature_difference_named_first_with_short_labels_and_flips(tmp_path: Path):
    make_run(tmp_path / "cold", A, temperature=0.6)
    make_run(tmp_path / "hot", B, temperature=1.0)
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "cold"), str(tmp_path / "hot"), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    # the settings table comes before any number
    assert md.index("## What differs between the runs") < md.index("## Results")
    table = md.split("## What differs between the runs", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| ")}
    assert rows["**temperature**"] == ["**temperature**", "0.6", "1.0", "**differs**"]
    assert rows["top_p"] == ["top_p", "0.95", "0.95", ""]
    assert rows["max_tokens"][-1] == "" and rows["grader"][1:3] == ["r1eval-math v3", "r1eval-math v3"]
    assert [r for r in rows if r.startswith("**")] == ["**temperature**"]  # nothing else differs
    # default labels: the model's short name plus the setting that differs
    report = json.loads((out / "report.json").read_text())
    assert [r["label"] for r in report["results"]] == ["student/final T=0.6", "student/final T=1.0"]
    assert report["warnings"] == []
    # flips: hand-computed, linked to the explorer's side-by-side view of both runs
    (comp,) = report["comparisons"]
    assert [(f["problem_id"], f["baseline"], f["candidate"], f["direction"]) for f in comp["flipped"]] == EXPECTED_FLIPS
    flips = md.split("## Problems that flipped", 1)[1]
    assert "4 of 6 problems flipped: 2 gained, 2 lost." in flips
    links = [line.split("|")[1].strip() for line in flips.splitlines() if line.startswith("| [")]
    assert links == [f"[{p}](explorer.html#problem={p}&runs=r0,r1)" for p, *_ in EXPECTED_FLIPS]


def test_token_cap_grader_and_data_differences_are_flagged(tmp_path: Path):
    make_run(tmp_path / "long", A, max_tokens=256)
    make_run(tmp_path / "short", A, max_tokens=64, data_sha256="e" * 64,
             bench_provenance={"grader": {"name": "r1eval-math", "version": "2"}})
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "long"), str(tmp_path / "short"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    warnings = report["warnings"]
    assert len(warnings) == 3
    assert any("token cap (max_tokens 256 vs 64)" in w for w in warnings)
    assert any("grader version (grader r1eval-math v3 vs r1eval-math v2)" in w for w in warnings)
    assert any("bench data (data sha256 dddddddddddd vs eeeeeeeeeeee)" in w for w in warnings)
    md = (out / "report.md").read_text()
    assert "**differs: not comparable**" in md and "(not comparable: see above)" in md
    labels = [r["label"] for r in report["results"]]
    assert labels == ["student/final data=dddddddddddd max=256 grader=r1eval-math v3",
                      "student/final data=eeeeeeeeeeee max=64 grader=r1eval-math v2"]


def make_grpo_dir(path: Path) -> None:
    """A training directory as `r1eval grpo` writes it (rl/training.py): config.json, steps.jsonl, result.json,
    final/ (an HF model directory)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"kind": "grpo", "settings": {}, "plan": {"completions_per_step": 8},
                                                  "git_commit": "abc"}))
    (path / "steps.jsonl").write_text("".join(json.dumps({"step": s, "time": 1000.0 + 40 * s, "reward": 0.2 * s,
                                                          "completion_length": 10.0 * s, "step_time": 40.0}) + "\n"
                                              for s in (1, 2, 3)))
    (path / "result.json").write_text(json.dumps({"global_steps": 3, "train_loss": 0.1, "train_seconds": 120.0,
                                                  "resumed_from": None}))
    for model in (path / "final", path / "checkpoints" / "checkpoint-2"):
        model.mkdir(parents=True)
        (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (path / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"global_step": 2}))


def test_training_dirs_followed_and_accepted_with_compute(tmp_path: Path):
    grpo = tmp_path / "grpo"
    make_grpo_dir(grpo)
    assert training_source(grpo / "final") == {"run_dir": str(grpo.resolve()), "kind": "grpo", "model": "final",
                                               "step": 3}
    assert training_source(grpo / "checkpoints" / "checkpoint-2")["step"] == 2
    assert training_source(tmp_path) is None
    make_run(tmp_path / "base", A, model="base-model")
    make_run(tmp_path / "rl", B, trained_from=training_source(grpo / "final"), label="rl")
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(out),
                 "--label", f"{tmp_path / 'base'}=base"]) == 0
    md = (out / "report.md").read_text()
    report = json.loads((out / "report.json").read_text())
    (row,) = report["training"]
    # hand-computed: (10 + 20 + 30) mean tokens x 8 completions per step; 120 s from result.json
    assert (row["label"], row["optimizer_steps"], row["evaluated_step"]) == ("rl", 3, 3)
    assert row["tokens_generated"] == 480 and row["tokens_trained_on"] == 480 and row["wall_seconds"] == 120.0
    ablation = md.split("## Distillation vs RL ablation", 1)[1].split("\n## ", 1)[0]
    assert "| rl | 0.5000 | 0.5000 | 3 | 480 | 480 | 2.0 min |" in ablation
    assert (out / "training_rl_toy.png").stat().st_size > 1000  # curves from the training run's steps.jsonl
    # a training directory given directly: no "has no summary.json", its curves and compute are reported
    out2 = tmp_path / "report2"
    assert main(["report", str(tmp_path / "rl"), str(grpo), "--out", str(out2), "--label", f"{grpo}=grpo-run"]) == 0
    report = json.loads((out2 / "report.json").read_text())
    assert [r["label"] for r in report["training"]] == ["rl", "grpo-run"]
    assert (out2 / "training_grpo-run_training.png").stat().st_size > 1000
    assert main(["report", str(grpo), "--out", str(tmp_path / "report3")]) == 0  # training only
    # an arm of any name (r1eval loop's recipes name their arms) joins the ablation through its training run
    out4 = tmp_path / "report4"
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(out4), "--label",
                 f"{tmp_path / 'base'}=base", "--label", f"{tmp_path / 'rl'}=rl-zero-custom"]) == 0
    ablation = (out4 / "report.md").read_text().split("## Distillation vs RL ablation", 1)[1].split("\n## ", 1)[0]
    assert "| rl-zero-custom | 0.5000 | 0.5000 | 3 | 480 | 480 | 2.0 min |" in ablation
    assert "- toy: rl-zero-custom vs base:" in ablation


def test_run_config_records_the_training_run_of_a_checkpoint(tmp_path: Path):
    """`r1eval run`'s config.json (build_config) names the training directory and step of a model directory
    that lies inside one."""
    from r1eval.benches import REGISTRY
    from r1eval.models import resolve_model
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, build_config

    make_grpo_dir(tmp_path / "grpo")
    for model, step in ((tmp_path / "grpo" / "final", 3), (tmp_path / "grpo" / "checkpoints" / "checkpoint-2", 2)):
        spec = RunSpec(bench=REGISTRY["aime24"], model=resolve_model(str(model)), params=SamplingParams())
        config = build_config(spec, [], [])
        assert config["trained_from"]["run_dir"] == str((tmp_path / "grpo").resolve())
        assert config["trained_from"]["step"] == step and config["trained_from"]["kind"] == "grpo"
    other = tmp_path / "plain-model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    spec = RunSpec(bench=REGISTRY["aime24"], model=resolve_model(str(other)), params=SamplingParams())
    assert build_config(spec, [], [])["trained_from"] is None
