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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.training import (
    CHECKPOINTS_DIR,
    STEPS_FILE,
    init_distributed,
    launched_world_size,
    make_step_log_callback,
    make_time_budget_callback,
    open_training_dir,
    split_batch,
    train_and_save,
    trl_config,
)


@dataclass(frozen=True)
class DistillPreset:
    """SFT hyper-parameters; fields other than the batch and LoRA ones go to `trl.SFTConfig` under the same name."""

    num_train_epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 5e-5  # peak, after warmup
    lr_scheduler_type: str = "cosine_with_min_lr"
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=lambda: {"min_lr": 5e-6})  # cosine floor
    warmup_steps: float = 0.03  # a float < 1 is a ratio of total steps
    global_batch_size: int = 128  # sequences per optimizer step, over all processes
    micro_batch_size: int = 4  # at most this many sequences per process per forward/backward
    max_length: int = 32768  # context: prompt + reply tokens; longer rows are truncated
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 500
    save_total_limit: int | None = 3
    seed: int = 42
    # LoRA (used with --lora)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_learning_rate: float | None = None  # LoRA usually wants ~10x the full-tuning rate; None = same

    def plan(self, num_processes: int) -> dict[str, int]:
        """Per-process batch and accumulation for `num_processes` processes (UsageError when impossible)."""
        micro, accumulation = split_batch(self.global_batch_size, num_processes, self.micro_batch_size, "sequences")
        return {"num_processes": num_processes, "global_batch_size": self.global_batch_size,
                "per_device_train_batch_size": micro, "gradient_accumulation_steps": accumulation}


PRESETS: dict[str, DistillPreset] = {
    # DeepSeek-R1 distillation recipe (paper: 2-3 epochs on 800k samples); cosine 5e-5 -> 5e-6, batch 128,
    # 32k context. Meant for GPUs: bf16 and gradient checkpointing on.
    "r1-distill": DistillPreset(num_train_epochs=2.0, learning_rate=5e-5, lr_scheduler_kwargs={"min_lr": 5e-6},
                                global_batch_size=128, micro_batch_size=4, max_length=32768,
                                bf16=True, gradient_checkpointing=True, save_steps=500,
                                lora_learning_rate=2e-4),
    # A small model on a 2-core CPU in minutes: batch 8, 1k context, float32, same schedule shape.
    "tiny-cpu": DistillPreset(num_train_epochs=2.0, learning_rate=5e-5, lr_scheduler_kwargs={"min_lr": 5e-6},
                              warmup_steps=0.05, global_batch_size=8, micro_batch_size=8,
                              max_length=1024, bf16=False, gradient_checkpointing=False, save_steps=50,
                              save_total_limit=1, lora_learning_rate=5e-4),
}
_NOT_SFT_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_learning_rate", "global_batch_size",
                   "micro_batch_size")
_EXTENDABLE = ("max_steps", "num_train_epochs")  # may grow when a run is continued


def get_distill_preset(name: str, overrides: dict[str, Any] | None = None) -> DistillPreset:
    """A preset by name with `overrides` (DistillPreset field -> value) applied; UsageError when unknown."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **(overrides or {}))


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
    return trl_config(SFTConfig, output_dir=str(output_dir), report_to="none", completion_only_loss=True,
                      save_strategy="steps", dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
                      per_device_train_batch_size=plan["per_device_train_batch_size"],
                      gradient_accumulation_steps=plan["gradient_accumulation_steps"],
                      restore_callback_states_from_checkpoint=True, **kwargs)


def sft_dry_run(preset_name: str, overrides: dict[str, Any], lora: bool, num_processes: int | None,
                output: Path | None) -> dict[str, Any]:
    """The effective batch numbers and the full TRL SFTConfig, without loading a model or data."""
    cfg = get_distill_preset(preset_name, overrides)
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


def train_student(student: str | None, data: Path, output: Path, *, preset: str = "tiny-cpu", lora: bool = False,
                  overrides: dict[str, Any] | None = None, gate: Any = None, max_minutes: float | None = None,
                  num_processes: int | None = None) -> Path:
    """SFT `student` (HF dir, .gguf, hub id; default the embedded SmolLM2-135M) on the chat dataset in `data`,
    or continue the run in `output` (same settings; a larger max_steps/num_train_epochs extends it).
    Writes the layout in the module docstring; returns `output/model`. `gate` (an `r1eval.training.GateSettings`)
    evaluates the student through the harness every `gate.every` steps, as GRPO does, keeping the best in
    `output/gate/best`. `max_minutes` stops with a checkpoint after that much training time."""
    from distill.filter import load_chat_dataset
    from r1eval.models import load_tokenizer, load_trainable_model, resolve_model
    from r1eval.runner import git_commit, package_versions

    cfg = get_distill_preset(preset, overrides)
    init_distributed()
    n = launched_world_size()
    if num_processes and num_processes != n:
        raise UsageError(f"--num-processes {num_processes} but this launch has {n} process(es); launch with "
                         "`accelerate launch --num_processes N` (or use --num-processes with --dry-run)")
    plan = cfg.plan(n)
    dataset = load_chat_dataset(data)
    if len(dataset) == 0:
        raise UsageError(f"{data}: the training set is empty (the filter kept nothing); loosen the filter")
    spec = resolve_model(student)
    settings = {"preset": preset, "config": {k: v for k, v in asdict(cfg).items() if k not in _EXTENDABLE},
                "student": spec.name, "student_sha256": spec.sha256(), "data": str(data),
                "data_sha256": _dataset_sha256(dataset), "lora": lora,
                "gate": gate.describe() if gate is not None else None, "num_processes": n}
    checkpoint = open_training_dir(output, "sft", settings, {
        "config": asdict(cfg), "plan": plan, "rows": len(dataset), "versions": package_versions(),
        "git_commit": git_commit(), "command": __import__("sys").argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    model = load_trainable_model(spec, "float32")
    tokenizer = load_tokenizer(spec)
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
    callbacks = [make_step_log_callback(output / STEPS_FILE, sft_step_row)]
    if max_minutes:
        callbacks.append(make_time_budget_callback(max_minutes))
    if gate is not None:
        from r1eval.training import make_gate_callback

        callbacks.append(make_gate_callback(gate, tokenizer, output / "gate", student))
    args = sft_config(cfg, output / CHECKPOINTS_DIR, lora, num_processes)
    if gate is not None:  # the other processes wait in a collective while the main one evaluates
        args.ddp_timeout = max(args.ddp_timeout, 6 * 3600)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    return train_and_save(trainer, tokenizer, checkpoint, output, output / "model")
