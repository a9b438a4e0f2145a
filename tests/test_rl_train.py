"""GRPO with TRL on the embedded model: the batch plan on 1, 2 and 8 processes and its --dry-run; two real
steps update the weights, log every field and gate; a rerun resumes at step 3 with the checkpoint's
optimizer state; LoRA with the R1-Zero preset builds a trainer whose reference reset keeps the policy."""

from __future__ import annotations

import copy
import json

import pytest

from r1eval.benches.arithmetic import arithmetic_problems, write_split
from r1eval.cli import main
from r1eval.errors import UsageError
from r1eval.rl.presets import PRESETS, get_preset

STEP_KEYS = {"step", "reward", "rewards", "kl", "clip_fraction", "completion_length", "step_time",
             "time_generation", "time_reward", "time_update", "loss", "learning_rate"}


@pytest.mark.parametrize("processes", [1, 2, 8])
def test_r1_zero_step_is_32_x_16_on_any_number_of_processes(processes: int) -> None:
    plan = PRESETS["r1-zero"].plan(processes)
    assert (plan.prompts_per_step, plan.num_generations, plan.completions_per_step) == (32, 16, 512)
    assert processes * plan.per_device_train_batch_size * plan.gradient_accumulation_steps == 512
    assert plan.per_device_train_batch_size == 16 and plan.gradient_accumulation_steps == 32 // processes
    # "8,192 rollouts per generation, split into 16 mini-batches": TRL's global generation batch, consumed by
    # 16 optimizer steps, i.e. steps_per_generation micro-batches per process
    assert plan.generation_batch_size == 8192 and plan.optimizer_steps_per_generation == 16
    assert plan.steps_per_generation * plan.per_device_train_batch_size * processes == 8192


def test_small_presets_shrink_the_micro_batch_and_impossible_splits_are_usage_errors() -> None:
    tiny = PRESETS["tiny-cpu"]  # 4 prompts x 8 = 32 completions, micro batch at most 4 (memory)
    assert (tiny.plan(1).per_device_train_batch_size, tiny.plan(1).gradient_accumulation_steps) == (4, 8)
    assert (tiny.plan(8).per_device_train_batch_size, tiny.plan(8).gradient_accumulation_steps) == (4, 1)
    assert (tiny.plan(16).per_device_train_batch_size, tiny.plan(16).gradient_accumulation_steps) == (2, 1)
    assert tiny.plan(8).generation_batch_size == 32  # one generation round per optimizer step
    with pytest.raises(UsageError, match="can't be split evenly over 3 processes"):
        PRESETS["r1-zero"].plan(3)
    with pytest.raises(UsageError, match="^micro_batch_size 5 does not divide"):
        PRESETS["r1-zero"].with_overrides(micro_batch_size=5).plan(1)
    with pytest.raises(UsageError, match="multiple of prompts_per_step"):
        PRESETS["r1-zero"].with_overrides(rollouts_per_generation=1000).plan(1)
    with pytest.raises(UsageError, match="save_steps"):
        PRESETS["r1-zero"].with_overrides(save_steps=100).plan(1)
    with pytest.raises(UsageError):
        get_preset("nope")


def test_r1_presets_map_onto_grpo_config(tmp_path) -> None:
    preset = PRESETS["r1-zero"]
    cfg = preset.to_grpo_config(str(tmp_path), preset.plan(1), use_cpu=True, bf16=False)
    assert (cfg.learning_rate, cfg.beta, cfg.num_generations, cfg.temperature) == (3e-6, 0.001, 16, 1.0)
    assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * cfg.world_size == 512
    assert cfg.generation_batch_size == 8192 and cfg.steps_per_generation == 512 and cfg.num_iterations == 1
    assert cfg.sync_ref_model and cfg.ref_model_sync_steps == 400 and cfg.ref_model_mixup_alpha == 1.0
    assert cfg.max_completion_length == 32768 and cfg.loss_type == "grpo"
    assert cfg.restore_callback_states_from_checkpoint  # the gate's state survives a resume
    # with LoRA, TRL's sync_ref_model (which TRL refuses with PEFT) is off: rl.train merges the adapter instead
    assert not preset.to_grpo_config(str(tmp_path), preset.plan(1), use_cpu=True, bf16=False, lora=True).sync_ref_model
    stage1 = get_preset("r1-stage1")
    assert "language" in stage1.rewards and stage1.template == "chat"


@pytest.mark.parametrize("processes", [1, 2, 8])
def test_grpo_dry_run_prints_one_json_object(processes: int, capsys) -> None:
    assert main(["grpo", "--preset", "r1-zero", "--dry-run", "--num-processes", str(processes)]) == 0
    plan = json.loads(capsys.readouterr().out)  # the whole output is one JSON object
    assert plan["num_processes"] == processes and plan["prompts_per_step"] == 32 and plan["num_generations"] == 16
    assert plan["completions_per_step"] == 512 and plan["generation_batch_size"] == 8192
    assert processes * plan["per_device_train_batch_size"] * plan["gradient_accumulation_steps"] == 512
    trl = plan["grpo_config"]  # the full GRPOConfig.to_dict()
    assert trl["per_device_train_batch_size"] == plan["per_device_train_batch_size"]
    assert trl["gradient_accumulation_steps"] == plan["gradient_accumulation_steps"]
    assert trl["generation_batch_size"] == 8192 and trl["steps_per_generation"] == 8192 // (16 * processes)
    assert trl["beta"] == 0.001 and trl["sync_ref_model"] is True and "learning_rate" in trl


def test_grpo_dry_run_with_lora_and_impossible_plans(capsys) -> None:
    assert main(["grpo", "--preset", "r1-zero", "--dry-run", "--lora-r", "8"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["grpo_config"]["sync_ref_model"] is False and plan["lora"] == {"r": 8, "alpha": 16}
    assert "adapter disabled" in plan["reference_policy"] and "merged into the base" in plan["reference_policy"]
    for bad in (["--num-processes", "3"], ["--micro-batch-size", "3"], ["--rollouts-per-generation", "100"]):
        assert main(["grpo", "--preset", "r1-zero", "--dry-run", *bad]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err


def _tiny_run(tmp_path, max_steps: int, **overrides):
    from r1eval.models import embedded_model
    from r1eval.rl.train import GRPORun
    from r1eval.training import GateSettings

    data = tmp_path / "train.jsonl"
    if not data.exists():
        write_split(arithmetic_problems(8, seed=3), data)
        write_split(arithmetic_problems(2, seed=4, prefix="held"), tmp_path / "held.jsonl")
    preset = get_preset("tiny-cpu").with_overrides(**{
        "max_steps": max_steps, "num_generations": 4, "prompts_per_step": 2, "micro_batch_size": 8,
        "max_completion_length": 8, "learning_rate": 1e-4, "beta": 0.01, "sync_ref_model": True,
        "ref_model_sync_steps": 2, "rewards": {"accuracy": 1.0, "language": 1.0},
        "save_only_model": False, **overrides})  # the resume below checks the optimizer state is restored

    def length_reward(prompts, completions, **kwargs):  # differs within every group: a non-zero gradient
        return [len(str(c)) / 100 for c in completions]

    gate = GateSettings(benches=[str(tmp_path / "held.jsonl")], every=2, n=1, limit=2, max_tokens=8, at_start=False)
    return GRPORun(model=embedded_model(), data=str(data), preset=preset, output=tmp_path / "run", gate=gate,
                   custom_rewards={"length": (length_reward, 1.0)})


@pytest.mark.slow
def test_two_grpo_steps_then_a_rerun_resumes_at_step_3_with_the_same_optimizer_state(tmp_path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from r1eval.models import embedded_model
    from r1eval.rl.train import build_trainer, model_cache_dir, train_grpo

    out = tmp_path / "run"
    final = train_grpo(_tiny_run(tmp_path, max_steps=2))

    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        missing = STEP_KEYS - set(r)
        assert not missing, missing
        assert {"accuracy_reward", "language_reward", "length_reward"} <= set(r["rewards"])
        assert r["step_time"] > 0 and r["time_generation"] > 0
    before = load_file(model_cache_dir(embedded_model()) / "model.safetensors")
    after = load_file(final / "model.safetensors")
    assert rows[0]["grad_norm"] > 0 and rows[1]["kl"] > 0
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "GRPO steps left every weight unchanged"
    config = json.loads((out / "config.json").read_text())
    assert config["preset"]["max_steps"] == 2 and config["settings"]["model_sha256"] and "resumes" not in config

    # the gate callback evaluated the policy at step 2 as an ordinary run directory
    run_dir = out / "gate" / "step-000002" / "held"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_problems"] == 2 and summary["n_samples"] == 1
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 2
    assert json.loads((run_dir / "config.json").read_text())["bench"] == "held"
    assert (out / "gate" / "best" / "model.safetensors").is_file()
    history = [json.loads(x) for x in (out / "gate" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2]
    assert list(history[0]["scores"]) == [str(tmp_path / "held.jsonl")]

    # a changed setting is refused before anything loads
    with pytest.raises(UsageError, match=r"learning_rate=0.0001 but this command has 0.001") as refused:
        build_trainer(_tiny_run(tmp_path, max_steps=3, learning_rate=1e-3))
    assert "\n" not in str(refused.value)

    # the same run with a larger --max-steps continues from checkpoint-2
    log_before = (out / "steps.jsonl").read_bytes()
    saved = torch.load(out / "checkpoints" / "checkpoint-2" / "optimizer.pt", weights_only=False)
    seen: dict = {}

    class Probe(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
            if not seen:
                reference = dict(trainer.ref_model.named_parameters())
                seen.update(step=state.global_step, optimizer=copy.deepcopy(optimizer.state_dict()),
                            scheduler_epoch=lr_scheduler.last_epoch,
                            reference_is_policy=all(torch.equal(p, reference[n]) for n, p in model.named_parameters()))

    # TRL reset the reference to the policy at step 2 (ref_model_sync_steps 2): the checkpoint carries it
    assert (out / "checkpoints" / "checkpoint-2" / "reference.safetensors").is_file()
    trainer, _, checkpoint = build_trainer(_tiny_run(tmp_path, max_steps=3))
    assert checkpoint == out / "checkpoints" / "checkpoint-2"
    trainer.add_callback(Probe())
    trainer.train(resume_from_checkpoint=str(checkpoint))
    assert seen["step"] == 2 and seen["scheduler_epoch"] == 2
    assert seen["reference_is_policy"]  # restored: not the initial model TRL would otherwise rebuild
    assert saved["state"].keys() == seen["optimizer"]["state"].keys()
    for index, moments in saved["state"].items():
        for name, value in moments.items():  # Adam's step counter and both moments, tensor for tensor
            assert torch.equal(value, seen["optimizer"]["state"][index][name]), (index, name)
    log_after = (out / "steps.jsonl").read_bytes()
    assert log_after.startswith(log_before)  # appended, never rewritten
    assert [json.loads(x)["step"] for x in log_after[len(log_before):].decode().splitlines()] == [3]
    resumed = torch.load(out / "checkpoints" / "checkpoint-3" / "optimizer.pt", weights_only=False)
    assert all(int(m["step"]) == 3 for m in resumed["state"].values())
    gate_cb = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "GateCallback")
    assert [h["step"] for h in gate_cb.history] == [2] and gate_cb.best_step == 2  # restored from checkpoint-2
    assert json.loads((out / "config.json").read_text())["resumes"][0]["from_step"] == 2


@pytest.mark.slow
def test_lora_with_r1_zero_builds_a_trainer_whose_reference_reset_keeps_the_policy(tmp_path) -> None:
    from types import SimpleNamespace

    import torch
    from transformers import TrainerControl

    from r1eval.models import embedded_model
    from r1eval.rl.callbacks import (
        REFERENCE_FILE,
        ReferencePolicyCallback,
        merge_and_restart_adapter,
        restore_reference,
    )
    from r1eval.rl.train import GRPORun, build_trainer

    data = write_split(arithmetic_problems(32, seed=3), tmp_path / "train.jsonl")
    run = GRPORun(model=embedded_model(), data=str(data), preset=get_preset("r1-zero"), output=tmp_path / "run",
                  lora_r=8)
    trainer, tokenizer, checkpoint = build_trainer(run)  # the unmodified R1-Zero preset: no traceback
    assert checkpoint is None and trainer.ref_model is None and not trainer.args.sync_ref_model
    assert trainer.beta == 0.001 and type(trainer.model).__name__.startswith("PeftModel")
    assert "ReferencePolicyCallback" in [type(c).__name__ for c in trainer.callback_handler.callbacks]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "merged into the base" in config["reference_policy"]

    model = trainer.model.float().eval()  # exact arithmetic for the comparisons below (the preset trains in bf16)
    ids = tokenizer("What is 2 + 3?", return_tensors="pt").input_ids
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # a trained adapter
                param.normal_(0, 0.02)
    model(ids).logits.sum().backward()
    optimizer.step()
    lora_params = [p for n, p in model.named_parameters() if "lora_" in n]
    assert all(p in optimizer.state for p in lora_params)
    with torch.no_grad():
        policy = model(ids).logits
        with model.disable_adapter():
            reference = model(ids).logits
        assert not torch.allclose(policy, reference, atol=1e-3)  # the adapter matters before the reset
        assert merge_and_restart_adapter(model, optimizer, seed=7) > 0
        after = model(ids).logits
        with model.disable_adapter():
            reference_after = model(ids).logits
    assert torch.allclose(after, policy, atol=1e-3)  # the policy is unchanged
    assert torch.equal(reference_after, after)  # and the reference (adapter disabled) is now the policy
    assert all(p not in optimizer.state for p in lora_params)  # a fresh adapter: no old moments
    assert all(torch.count_nonzero(p) == 0 for n, p in model.named_parameters() if "lora_B" in n)
    first_a = [p.clone() for n, p in model.named_parameters() if "lora_A" in n]
    merge_and_restart_adapter(model, None, seed=7)  # the same seed draws the same A (every process alike)
    assert all(torch.equal(a, p) for a, p in zip(first_a, (p for n, p in model.named_parameters() if "lora_A" in n),
                                                 strict=True))

    # the reset reference is written into the checkpoint and restored from it on resume
    callback = ReferencePolicyCallback(trainer, every=400, lora=True, seed=0)
    saved = tmp_path / "ckpts" / "checkpoint-400"
    saved.mkdir(parents=True)  # as Trainer leaves it just before on_save
    callback.on_save(SimpleNamespace(output_dir=str(tmp_path / "ckpts")),
                     SimpleNamespace(global_step=400, is_world_process_zero=True), TrainerControl())
    assert (saved / REFERENCE_FILE).is_file()
    base = next(m for m in model.modules() if hasattr(m, "base_layer")).base_layer.weight
    kept = base.detach().clone()
    with torch.no_grad():
        base.zero_()
    assert restore_reference(trainer, saved, lora=True, every=400) and torch.equal(base, kept)
    (saved / REFERENCE_FILE).unlink()  # a checkpoint past a reset without its reference is refused, not misread
    with pytest.raises(UsageError, match="lacks"):
        restore_reference(trainer, saved, lora=True, every=400)
    assert not restore_reference(trainer, tmp_path / "ckpts" / "checkpoint-399", lora=True, every=400)


def test_bad_data_is_a_usage_error(tmp_path) -> None:
    from r1eval.rl.train import load_training_data

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+1"}\n')
    with pytest.raises(UsageError, match="answer"):
        load_training_data(str(bad))
    with pytest.raises(UsageError, match="neither"):
        load_training_data("no-such-bench")
    assert len(load_training_data("aime24", limit=3).rows) == 3
