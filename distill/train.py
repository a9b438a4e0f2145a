"""SFT of a student on filtered teacher traces with TRL's SFTTrainer, loss on the assistant turn only.

The chat-messages rows are split into TRL's conversational prompt-completion form (prompt = every turn
before the assistant's reply, completion = the reply); SFTTrainer then masks the prompt tokens
(`completion_only_loss`), so only the teacher's reply is learned. The prompt is rendered by the same
chat template the harness uses at evaluation (`render_prompt`), so train and test prompts match.

Presets are thin TRL configs: a `DistillPreset` dataclass whose fields map onto `trl.SFTConfig` (plus
LoRA settings), with documented defaults. The batch is a global number of sequences per optimizer step;
the per-process batch and gradient accumulation follow from the number of processes (`plan`).

Output directory (`--output DIR`, shared layout with `r1eval grpo`, see `r1eval.training`): config.json
(settings, provenance, resumes), steps.jsonl (one row per logged step), checkpoints/, model/ (the final
full model, LoRA merged), result.json (steps, loss, wall time), gate/ when gating. Rerunning the same
command continues from the last checkpoint; a larger --max-steps or --epochs extends the run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.recipes import build, load_recipe, option, recipe_names
from r1eval.training import (
    CHECKPOINTS_DIR,
    STEPS_FILE,
    init_distributed,
    launched_world_size,
    on_main_first,
    open_training_dir,
    refuse_gate_when_sharded,
    split_batch,
    train_and_save,
    trl_config,
)


@dataclass(frozen=True)
class DistillPreset:
    """SFT hyper-parameters (one field = one `r1eval distill train` flag = one recipe key); fields other than
    the batch and LoRA ones go to `trl.SFTConfig` under the same name. The shipped recipes in
    r1eval/recipes/sft/ name every field."""

    num_train_epochs: float = option(2.0, "epochs over the training set (R1 distillation: 2-3)",
                                     flags=("--epochs",))
    max_steps: int = option(-1, "optimizer steps; > 0 overrides the epochs (a larger value extends a run)")
    learning_rate: float = option(5e-5, "peak learning rate, after warm-up")
    lr_scheduler_type: str = option("cosine_with_min_lr", "learning-rate schedule")
    lr_scheduler_kwargs: dict[str, Any] = option({"min_lr": 5e-6}, "schedule arguments (the cosine floor)")
    warmup_steps: float = option(0.03, "warm-up steps; a value < 1 is a ratio of the total steps")
    global_batch_size: int = option(128, "sequences per optimizer step, all processes together")
    micro_batch_size: int = option(4, "at most this many sequences per process per forward/backward pass")
    max_length: int = option(32768, "context: prompt + reply tokens; longer rows are truncated")
    packing: bool = option(False, "pack several rows into one sequence")
    completion_only_loss: bool = option(True, "loss on the assistant's reply only, not the prompt")
    loss_type: str = option("nll", "TRL SFT loss")
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_grad_norm: float = option(1.0, "gradient clipping")
    bf16: bool = option(False, "train in bfloat16 mixed precision")
    gradient_checkpointing: bool = option(False, "trade compute for memory")
    logging_steps: int = option(1, "steps between steps.jsonl rows")
    save_steps: int = option(500, "checkpoint every N steps")
    save_total_limit: int | None = option(3, "newest checkpoints kept (none = all)")
    save_only_model: bool = option(False, "checkpoints without the optimizer state (a rerun restarts Adam's moments)")
    seed: int = option(42, "training seed")
    lora_r: int = option(16, "LoRA rank (with --lora)")
    lora_alpha: int = option(32, "LoRA alpha (with --lora)")
    lora_dropout: float = option(0.05, "LoRA dropout (with --lora)")
    lora_learning_rate: float | None = option(None, "learning rate with --lora (LoRA wants ~10x the full-tuning "
                                                    "rate); none = learning_rate")

    def plan(self, num_processes: int) -> dict[str, int]:
        """Per-process batch and accumulation for `num_processes` processes (UsageError when impossible)."""
        micro, accumulation = split_batch(self.global_batch_size, num_processes, self.micro_batch_size, "sequences")
        return {"num_processes": num_processes, "global_batch_size": self.global_batch_size,
                "per_device_train_batch_size": micro, "gradient_accumulation_steps": accumulation}


RECIPE_COMMAND = "sft"  # r1eval/recipes/sft/
PRESETS: dict[str, DistillPreset] = {name: build(DistillPreset, load_recipe(RECIPE_COMMAND, name))
                                     for name in recipe_names(RECIPE_COMMAND)}
_NOT_SFT_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_learning_rate", "global_batch_size",
                   "micro_batch_size")
_EXTENDABLE = ("max_steps", "num_train_epochs")  # may grow when a run is continued


def get_distill_preset(name: str, overrides: dict[str, Any] | None = None) -> DistillPreset:
    """A shipped recipe (or a recipe YAML path) with `overrides` (DistillPreset field -> value) applied;
    UsageError when unknown."""
    base = PRESETS.get(name) or build(DistillPreset, load_recipe(RECIPE_COMMAND, name))
    return replace(base, **(overrides or {}))


def to_prompt_completion(dataset: Any) -> Any:
    """Chat-messages rows -> TRL conversational prompt-completion rows (the last turn must be the assistant's)."""
    def split(row: dict[str, Any]) -> dict[str, Any]:
        msgs = row["messages"]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise UsageError("every training row's last message must be the assistant's reply")
        return {"prompt": msgs[:-1], "completion": msgs[-1:]}

    return dataset.map(split, remove_columns=dataset.column_names)


def sft_config(preset: DistillPreset, output_dir: Path, lora: bool, num_processes: int = 1) -> Any:
    """The `trl.SFTConfig` for a preset on `num_processes` processes."""
    import torch
    from trl import SFTConfig

    kwargs = {k: v for k, v in asdict(preset).items() if k not in _NOT_SFT_FIELDS}
    plan = preset.plan(num_processes)
    if lora and preset.lora_learning_rate:
        kwargs["learning_rate"] = preset.lora_learning_rate
    return trl_config(SFTConfig, output_dir=str(output_dir), report_to="none",
                      save_strategy="steps", dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
                      per_device_train_batch_size=plan["per_device_train_batch_size"],
                      gradient_accumulation_steps=plan["gradient_accumulation_steps"],
                      restore_callback_states_from_checkpoint=True, **kwargs)


def sft_dry_run(preset: str | DistillPreset, overrides: dict[str, Any], lora: bool, num_processes: int | None,
                output: Path | None, preset_name: str | None = None) -> dict[str, Any]:
    """The effective batch numbers and the full TRL SFTConfig, without loading a model or data."""
    if isinstance(preset, DistillPreset):
        cfg = replace(preset, **overrides)
    else:
        cfg, preset_name = get_distill_preset(preset, overrides), preset
    n = num_processes or launched_world_size()
    checkpoints = output / CHECKPOINTS_DIR if output else Path(CHECKPOINTS_DIR)
    return {**cfg.plan(n), "preset": preset_name, "lora": lora,
            "sft_config": sft_config(cfg, checkpoints, lora, n).to_dict()}


def sft_step_row(logs: dict[str, Any]) -> dict[str, Any] | None:
    """One SFTTrainer log line as a steps.jsonl row (None for the end-of-training summary and eval logs)."""
    if "train_runtime" in logs or any(k.startswith("eval_") for k in logs):
        return None
    return dict(logs)


def _dataset_sha256(dataset: Any) -> str:
    """Hash of the training rows (chat messages), the data's identity for a resume."""
    digest = hashlib.sha256()
    for row in dataset:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


def train_student(student: str | None, data: Path, output: Path, *, preset: str | DistillPreset = "tiny-cpu",
                  lora: bool = False, overrides: dict[str, Any] | None = None, gate: Any = None,
                  max_minutes: float | None = None, num_processes: int | None = None,
                  preset_name: str | None = None) -> Path:
    """SFT `student` (HF dir, .gguf, hub id; default the embedded SmolLM2-135M) on the chat dataset in `data`,
    or continue the run in `output` (same settings; a larger max_steps/num_train_epochs extends it).
    Writes the layout in the module docstring; returns `output/model`. `gate` (an `r1eval.training.GateSettings`)
    evaluates the student through the harness every `gate.every` steps, as GRPO does, keeping the best in
    `output/gate/best`. `max_minutes` stops with a checkpoint after that much training time. `preset` is a
    recipe name or a `DistillPreset` (then `preset_name` names the recipe it came from, for config.json)."""
    from r1eval.distill.filter import load_chat_dataset
    from r1eval.models import hf_model_dir, load_tokenizer, load_trainable_model, resolve_model
    from r1eval.runner import git_commit, package_versions

    if isinstance(preset, DistillPreset):
        cfg = replace(preset, **(overrides or {}))
    else:
        cfg, preset_name = get_distill_preset(preset, overrides), preset
    init_distributed()
    n = launched_world_size()
    if num_processes and num_processes != n:
        raise ConfigError("num_processes", f"{num_processes} but this launch has {n} process(es); launch with "
                          "`accelerate launch --num_processes N` (or plan N processes only with a dry run)")
    plan = cfg.plan(n)
    dataset = load_chat_dataset(data)
    if len(dataset) == 0:
        raise UsageError(f"{data}: the training set is empty (the filter kept nothing); loosen the filter")
    spec = resolve_model(student)
    settings = {"preset": preset_name, "config": {k: v for k, v in asdict(cfg).items() if k not in _EXTENDABLE},
                "student": spec.name, "student_sha256": spec.sha256(), "data": str(data),
                "data_sha256": _dataset_sha256(dataset), "lora": lora,
                "gate": gate.describe() if gate is not None else None, "num_processes": n}
    checkpoint = open_training_dir(output, "sft", settings, {
        "config": asdict(cfg), "plan": plan, "rows": len(dataset), "versions": package_versions(),
        "git_commit": git_commit(), "command": __import__("sys").argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    # a GGUF is dequantised once into the cache (by the main process first, the others then read it)
    weights = on_main_first(lambda: hf_model_dir(spec, "float32"))
    model = load_trainable_model(spec, "float32")
    tokenizer = load_tokenizer(spec, weights)
    tokenizer.padding_side = "right"
    return _fit(model, tokenizer, to_prompt_completion(dataset), cfg, output, lora=lora, gate=gate,
                checkpoint=checkpoint, student=spec.name, max_minutes=max_minutes, num_processes=n)


def _fit(model: Any, tokenizer: Any, dataset: Any, cfg: DistillPreset, output: Path, *, lora: bool, gate: Any,
         checkpoint: Path | None, student: str, max_minutes: float | None, num_processes: int) -> Path:
    from trl import SFTTrainer

    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    from r1eval.training_callbacks import GateCallback, StepLogCallback, TimeBudgetCallback

    callbacks: list[Any] = [StepLogCallback(output / STEPS_FILE, sft_step_row)]
    if max_minutes:
        callbacks.append(TimeBudgetCallback(max_minutes))
    if gate is not None:
        callbacks.append(GateCallback(output / "gate", gate, student))
    args = sft_config(cfg, output / CHECKPOINTS_DIR, lora, num_processes)
    if gate is not None:  # the other processes wait in a collective while the main one evaluates
        args.ddp_timeout = max(args.ddp_timeout, 6 * 3600)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    refuse_gate_when_sharded(trainer, gate)
    return train_and_save(trainer, tokenizer, checkpoint, output, output / "model")
