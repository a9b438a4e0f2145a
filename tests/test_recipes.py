"""Options from one source: the shipped recipes name every field, `--config` YAML round-trips through
`--dry-run` for grpo, distill train and distill filter (flags override it), the multi-node plan and the
DeepSpeed accelerate configs, and the filter's require_think on real non-<think> traces."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from r1eval.cli import main
from r1eval.distill.filter import FilterConfig
from r1eval.distill.train import DistillPreset
from r1eval.recipes import ACCELERATE_DIR, RECIPE_DIR, recipe_names, resolve_options
from r1eval.rl.presets import PRESETS, GRPOPreset

ROOT = Path(__file__).resolve().parent.parent


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _dry_run(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _write(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(("command", "cls"), [("grpo", GRPOPreset), ("sft", DistillPreset)])
def test_every_shipped_recipe_names_every_field(command: str, cls: type) -> None:
    names = recipe_names(command)
    assert len(names) >= 2
    for name in names:
        values = yaml.safe_load((RECIPE_DIR / command / f"{name}.yaml").read_text())
        assert _fields(cls) - {"description"} <= set(values), (name, sorted(_fields(cls) - set(values)))
        assert set(values) <= _fields(cls) | {"description"}


def test_r1_recipes_hold_the_paper_values_and_stage1_clips_at_10(tmp_path: Path) -> None:
    zero, stage1 = PRESETS["r1-zero"], PRESETS["r1-stage1"]
    assert dataclasses.replace(zero, name="custom", description="") == GRPOPreset()  # one source for the defaults
    assert (zero.learning_rate, zero.beta, zero.num_generations, zero.temperature) == (3e-6, 0.001, 16, 1.0)
    assert (zero.prompts_per_step, zero.ref_model_sync_steps, zero.sync_ref_model) == (32, 400, True)
    cfg = stage1.to_grpo_config(str(tmp_path), stage1.plan(1), use_cpu=True, bf16=False)
    assert stage1.epsilon == 10.0 and cfg.epsilon == 10.0 and cfg.epsilon_high is None
    # fields whose TRL default differs from R1 are set explicitly
    assert cfg.loss_type == "grpo" and cfg.use_bias_correction_kl is False and cfg.scale_rewards == "group"
    assert "language" in stage1.rewards and stage1.template == "chat"


def test_help_lists_the_recipes_and_accelerate_configs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["grpo", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("r1-zero", "r1-stage1", "tiny-cpu", "zero2", "zero3", str(ACCELERATE_DIR)))
    with pytest.raises(SystemExit):
        main(["distill", "train", "--help"])
    out = capsys.readouterr().out
    assert "r1-distill" in out and "tiny-cpu" in out and "zero3" in out


def test_grpo_config_round_trips_through_dry_run_and_flags_override(tmp_path: Path, capsys) -> None:
    values = {"preset": "r1-stage1", "learning_rate": 1.0e-6, "epsilon": 5.0, "num_generations": 8,
              "prompts_per_step": 16, "rollouts_per_generation": None, "save_steps": 10,
              "rewards": {"accuracy": 2.0, "format": 1.0}, "seed": 7, "model": "org/student", "output": "runs/x",
              "use_bias_correction_kl": True, "gate_bench": ["math500"], "gate_every": 5, "max_minutes": 30.0}
    recipe = _write(tmp_path / "recipe.yaml", values)
    plan = _dry_run(capsys, ["grpo", "--config", str(recipe), "--dry-run"])
    given = {k: v for k, v in values.items() if k != "preset"}
    assert {k: plan["config"][k] for k in given} == given
    assert plan["config"]["template"] == "chat" and plan["config"]["name"] == "r1-stage1"  # from the preset
    trl = plan["grpo_config"]
    assert (trl["learning_rate"], trl["epsilon"], trl["num_generations"], trl["seed"]) == (1e-6, 5.0, 8, 7)
    assert trl["reward_weights"] == [2.0, 1.0] and trl["use_bias_correction_kl"] is True
    assert plan["completions_per_step"] == 128 and plan["generation_batch_size"] == 128
    # a flag beats the file; the rest of the file stays
    plan = _dry_run(capsys, ["grpo", "--config", str(recipe), "--dry-run", "--learning-rate", "2e-6", "--no-vllm"])
    assert plan["config"]["learning_rate"] == 2e-6 and plan["config"]["epsilon"] == 5.0
    assert plan["config"]["use_vllm"] is False
    # YAML reads 3e-6 as text; it is still a float option
    (tmp_path / "text.yaml").write_text("learning_rate: 3e-6\nepsilon: 10\n")
    plan = _dry_run(capsys, ["grpo", "--config", str(tmp_path / "text.yaml"), "--dry-run"])
    assert plan["config"]["learning_rate"] == 3e-6 and plan["config"]["epsilon"] == 10.0
    assert plan["config"]["name"] == "tiny-cpu"  # no preset named: the command's default recipe


def test_distill_train_config_round_trips_through_dry_run(tmp_path: Path, capsys) -> None:
    values = {"preset": "r1-distill", "learning_rate": 2.0e-5, "num_train_epochs": 3.0, "global_batch_size": 64,
              "max_length": 4096, "lr_scheduler_kwargs": {"min_lr": 1.0e-6}, "lora": True, "student": "org/s",
              "save_only_model": True}
    recipe = _write(tmp_path / "sft.yaml", values)
    plan = _dry_run(capsys, ["distill", "train", "--config", str(recipe), "--dry-run", "--num-processes", "2"])
    given = {k: v for k, v in values.items() if k != "preset"}
    assert {k: plan["config"][k] for k in given} == given
    assert plan["preset"] == "r1-distill" and plan["config"]["bf16"] is True  # from the recipe
    sft = plan["sft_config"]
    assert sft["num_train_epochs"] == 3.0 and sft["max_length"] == 4096 and sft["save_only_model"] is True
    assert sft["learning_rate"] == 2e-4  # --lora: the recipe's lora_learning_rate
    assert 2 * sft["per_device_train_batch_size"] * sft["gradient_accumulation_steps"] == 64
    plan = _dry_run(capsys, ["distill", "train", "--config", str(recipe), "--dry-run", "--epochs", "1"])
    assert plan["config"]["num_train_epochs"] == 1.0 and plan["sft_config"]["num_train_epochs"] == 1.0


def test_distill_filter_config_round_trips_and_the_old_json_file_works(tmp_path: Path, capsys) -> None:
    values = {"min_chars": 5, "require_think": False, "max_per_prompt": 2, "min_language_consistency": 0.8,
              "input": "traces.jsonl", "output": "out"}
    plan = _dry_run(capsys, ["distill", "filter", "--config", str(_write(tmp_path / "f.yaml", values)), "--dry-run"])
    assert {k: plan["config"][k] for k in values} == values
    assert plan["config"]["max_chars"] == FilterConfig().max_chars
    old = tmp_path / "thresholds.json"  # the JSON file the flag took before
    old.write_text(json.dumps({"max_repeated_ngram_ratio": 0.5}))
    plan = _dry_run(capsys, ["distill", "filter", "--config", str(old), "--dry-run", "--max-per-prompt", "1"])
    assert plan["config"]["max_repeated_ngram_ratio"] == 0.5 and plan["config"]["max_per_prompt"] == 1


@pytest.mark.parametrize(("argv", "words"), [
    (["grpo", "--dry-run", "--config", "{cfg}"], ["unknown option lerning_rate", "did you mean learning_rate?"]),
    (["grpo", "--dry-run", "--preset", "r2-zero"], ["unknown preset 'r2-zero'", "r1-zero"]),
    (["grpo", "--dry-run", "--beta", "lots"], ["--beta", "expected a float"]),
    (["grpo", "--dry-run", "--num-generations", "1"], ["num_generations must be >= 2"]),
    (["grpo", "--dry-run", "--num-machines", "2", "--num-processes", "3"], ["not a multiple of num_machines"]),
    (["distill", "train", "--dry-run", "--config", "{bad}"], ["not valid YAML"]),
    (["distill", "filter", "--dry-run", "--min-language-consistency", "2"], ["min_language_consistency"]),
])
def test_bad_options_are_one_line_exit_2(tmp_path: Path, capsys, argv: list[str], words: list[str]) -> None:
    (tmp_path / "c.yaml").write_text("lerning_rate: 1.0e-6\n")
    (tmp_path / "bad.yaml").write_text("learning_rate: [1\n")
    argv = [a.format(cfg=tmp_path / "c.yaml", bad=tmp_path / "bad.yaml") for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err
    assert all(w in captured.err for w in words), captured.err


def test_resolve_options_is_the_api_the_loop_uses() -> None:
    from r1eval.rl.options import GRPO_OPTIONS

    recipe, inputs, launch, gate = resolve_options("grpo", GRPO_OPTIONS, config={"preset": "r1-stage1",
                                                                                 "max_steps": 400},
                                                   overrides={"model": "org/m", "seed": None})
    assert (recipe.name, recipe.max_steps, recipe.epsilon, inputs.model, inputs.seed) == ("r1-stage1", 400, 10.0,
                                                                                          "org/m", 0)


def test_two_machines_of_eight_gpus_plan_and_deepspeed_configs(capsys) -> None:
    plan = _dry_run(capsys, ["grpo", "--preset", "r1-zero", "--dry-run", "--num-machines", "2", "--num-processes", "16",
                             "--vllm-mode", "server", "--vllm-server-host", "10.0.0.9", "--accelerate-config", "zero2"])
    assert (plan["num_processes"], plan["num_machines"], plan["processes_per_machine"]) == (16, 2, 8)
    # 512 completions per step: 16 processes x micro 16 x accumulation 2; 8192 per round = 32 micro-batches each
    assert (plan["per_device_train_batch_size"], plan["gradient_accumulation_steps"]) == (16, 2)
    assert plan["generation_batch_size"] == 8192 and plan["steps_per_generation"] == 32
    assert plan["grpo_config"]["steps_per_generation"] == 32
    assert [line.count("--machine_rank") for line in plan["launch"]] == [1, 1]
    assert "--machine_rank 0" in plan["launch"][0] and "--machine_rank 1" in plan["launch"][1]
    assert str(ACCELERATE_DIR / "zero2.yaml") in plan["launch"][0]
    assert plan["deepspeed"]["zero_stage"] == 2 and plan["vllm_mode"] == "server"
    trl = plan["grpo_config"]
    assert trl["use_vllm"] is True and trl["vllm_mode"] == "server" and trl["vllm_server_host"] == "10.0.0.9"
    assert "trl vllm-serve" in plan["vllm_server"]
    # the accelerate config's own process count when no flag gives one; ZeRO-3 refuses the LoRA reset
    plan = _dry_run(capsys, ["grpo", "--preset", "r1-stage1", "--dry-run", "--accelerate-config", "zero3"])
    assert plan["num_processes"] == 8 and plan["deepspeed"]["zero_stage"] == 3
    assert main(["grpo", "--preset", "r1-zero", "--dry-run", "--accelerate-config", "zero3", "--lora-r", "8"]) == 2
    assert "ZeRO-3" in capsys.readouterr().err
    assert main(["grpo", "--preset", "tiny-cpu", "--dry-run", "--accelerate-config", "zero2"]) == 2
    assert "mixed_precision" in capsys.readouterr().err
    assert main(["grpo", "--preset", "r1-zero", "--dry-run", "--accelerate-config", "zero3", "--gate-bench",
                 "math500"]) == 2
    assert "unsharded weights" in capsys.readouterr().err
    plan = _dry_run(capsys, ["distill", "train", "--preset", "r1-distill", "--dry-run", "--accelerate-config", "zero3",
                             "--num-machines", "2", "--num-processes", "16"])
    assert plan["deepspeed"]["zero_stage"] == 3 and len(plan["launch"]) == 2
    assert 16 * plan["per_device_train_batch_size"] * plan["gradient_accumulation_steps"] == 128


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_shipped_accelerate_configs_are_valid_for_accelerate(name: str) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(ACCELERATE_DIR / f"{name}.yaml"))
    assert config.distributed_type == "DEEPSPEED" and config.deepspeed_config["zero_stage"] == int(name[-1])


def _smollm_traces(path: Path) -> Path:
    """The embedded SmolLM2-135M's real replies to 2-digit additions (committed mini-r1 base evaluation) as
    problem/answer/completion rows: an instruct model, so no reply has a <think> block."""
    rows = []
    for line in (ROOT / "reports/mini-r1/evals/eval_base/samples.jsonl").read_text().splitlines()[:80]:
        s = json.loads(line)
        problem = s["prompt"].split("<|im_start|>user\n")[1].split("\nPlease reason")[0]
        rows.append({"problem_id": s["problem_id"], "problem": problem, "answer": s["gold"],
                     "completion": s["completion"], "correct": s["correct"], "finish_reason": s["finish_reason"]})
    assert not any("<think>" in r["completion"] for r in rows) and any(r["correct"] for r in rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_filter_on_a_teacher_without_think_says_why_and_what_to_do(tmp_path: Path, capsys) -> None:
    traces = _smollm_traces(tmp_path / "traces.jsonl")
    assert main(["distill", "filter", "--input", str(traces), "--output", str(tmp_path / "strict")]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "strict" / "filter_report.json").read_text())
    assert report["kept"] == 0 and report["failing_check_counts"]["format"] == report["total"] == 80
    for text in (out, report["advice"], (tmp_path / "strict" / "filter_report.md").read_text()):
        assert "--force-think" in text and "require_think: false" in text and "reasoning teacher" in text
    assert main(["distill", "filter", "--input", str(traces), "--output", str(tmp_path / "loose"),
                 "--no-require-think"]) == 0
    report = json.loads((tmp_path / "loose" / "filter_report.json").read_text())
    assert report["kept"] > 0 and "format" not in report["failing_check_counts"] and report["advice"] is None
    kept = [json.loads(line) for line in (tmp_path / "loose" / "kept.jsonl").read_text().splitlines()]
    assert all(r["correct"] for r in kept) and report["config"]["require_think"] is False
