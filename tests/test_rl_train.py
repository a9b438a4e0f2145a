"""GRPO with TRL on the embedded model: two real steps update the weights and log every field; the gate
callback writes ordinary harness run directories. Also preset -> GRPOConfig mapping."""

from __future__ import annotations

import json

import pytest

from r1eval.errors import UsageError
from rl.presets import PRESETS, get_preset
from rl.tasks import arithmetic_problems, write_split

STEP_KEYS = {"step", "reward", "rewards", "kl", "clip_fraction", "completion_length", "step_time",
             "time_generation", "time_reward", "time_update", "loss", "learning_rate"}


def test_r1_presets_map_onto_grpo_config(tmp_path) -> None:
    cfg = PRESETS["r1-zero"].to_grpo_config(str(tmp_path), use_cpu=True, bf16=False)
    assert (cfg.learning_rate, cfg.beta, cfg.num_generations, cfg.temperature) == (3e-6, 0.001, 16, 1.0)
    assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 32 * 16
    assert cfg.sync_ref_model and cfg.ref_model_sync_steps == 400 and cfg.ref_model_mixup_alpha == 1.0
    assert cfg.max_completion_length == 32768 and cfg.loss_type == "grpo"
    stage1 = get_preset("r1-stage1")
    assert "language" in stage1.rewards and stage1.template == "chat"
    with pytest.raises(UsageError):
        get_preset("nope")
    with pytest.raises(UsageError, match="multiple"):
        PRESETS["tiny-cpu"].with_overrides(micro_batch_size=5).validate()


@pytest.mark.slow
def test_two_grpo_steps_update_weights_log_every_field_and_gate(tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    from r1eval.models import embedded_model
    from rl.gating import GateSettings
    from rl.train import GRPORun, model_cache_dir, train_grpo

    data = write_split(arithmetic_problems(8, seed=3), tmp_path / "train.jsonl")
    heldout = write_split(arithmetic_problems(2, seed=4, prefix="held"), tmp_path / "held.jsonl")
    preset = get_preset("tiny-cpu").with_overrides(
        max_steps=2, num_generations=4, prompts_per_step=2, micro_batch_size=8, max_completion_length=8,
        learning_rate=1e-4, beta=0.01, rewards={"accuracy": 1.0, "language": 1.0})

    def length_reward(prompts, completions, **kwargs):  # differs within every group: a non-zero gradient
        return [len(str(c)) / 100 for c in completions]

    gate = GateSettings(benches=[str(heldout)], every=2, n=1, limit=2, max_tokens=8, at_start=False)
    out = tmp_path / "run"
    final = train_grpo(GRPORun(model=embedded_model(), data=str(data), preset=preset, output=out, gate=gate,
                               custom_rewards={"length": (length_reward, 1.0)}))

    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        missing = STEP_KEYS - set(r)
        assert not missing, missing
        assert {"accuracy_reward", "language_reward", "length_reward"} <= set(r["rewards"]) and r["step_time"] > 0 and r["time_generation"] > 0
    before = load_file(model_cache_dir(embedded_model()) / "model.safetensors")
    after = load_file(final / "model.safetensors")
    assert rows[0]["grad_norm"] > 0 and rows[1]["kl"] > 0
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "GRPO steps left every weight unchanged"
    config = json.loads((out / "config.json").read_text())
    assert config["preset"]["max_steps"] == 2 and config["model_sha256"]

    # the gate callback evaluated the policy at step 2 as an ordinary run directory
    run_dir = out / "gate" / "step-000002" / "held"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_problems"] == 2 and summary["n_samples"] == 1
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 2
    assert json.loads((run_dir / "config.json").read_text())["bench"] == "held"
    assert (out / "gate" / "best" / "model.safetensors").is_file()
    history = [json.loads(x) for x in (out / "gate" / "history.jsonl").read_text().splitlines()]
    assert history[0]["step"] == 2 and "held.jsonl" in next(iter(history[0]["scores"])) or history


def test_bad_data_is_a_usage_error(tmp_path) -> None:
    from rl.train import load_training_data

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+1"}\n')
    with pytest.raises(UsageError, match="answer"):
        load_training_data(str(bad))
    with pytest.raises(UsageError, match="neither"):
        load_training_data("no-such-bench")
    assert len(load_training_data("aime24", limit=3).rows) == 3
