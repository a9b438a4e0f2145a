"""SFT of a student on filtered teacher traces with TRL's SFTTrainer, loss on the assistant turn only.

The chat-messages rows are split into TRL's conversational prompt-completion form (prompt = every turn
before the assistant's reply, completion = the reply); SFTTrainer then masks the prompt tokens
(`completion_only_loss`), so only the teacher's reply is learned. The prompt is rendered by the same
chat template the harness uses at evaluation (`render_prompt`), so train and test prompts match.

Presets are thin TRL configs: a `DistillPreset` dataclass whose fields map one-to-one onto
`trl.SFTConfig` (plus LoRA settings), with documented defaults.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError


@dataclass(frozen=True)
class DistillPreset:
    """SFT hyper-parameters; each field is passed to `trl.SFTConfig` under the same name."""

    num_train_epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 5e-5  # peak, after warmup
    lr_scheduler_type: str = "cosine_with_min_lr"
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=lambda: {"min_lr": 5e-6})  # cosine floor
    warmup_steps: float = 0.03  # a float < 1 is a ratio of total steps
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 32  # effective batch = per_device x accumulation x devices
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


PRESETS: dict[str, DistillPreset] = {
    # DeepSeek-R1 distillation recipe (paper: 2-3 epochs on 800k samples); cosine 5e-5 -> 5e-6, batch 128,
    # 32k context. Meant for GPUs: bf16 and gradient checkpointing on.
    "r1-distill": DistillPreset(num_train_epochs=2.0, learning_rate=5e-5, lr_scheduler_kwargs={"min_lr": 5e-6},
                                per_device_train_batch_size=4, gradient_accumulation_steps=32, max_length=32768,
                                bf16=True, gradient_checkpointing=True, save_steps=500,
                                lora_learning_rate=2e-4),
    # A small model on a 2-core CPU in minutes: batch 8, 1k context, float32, same schedule shape.
    "tiny-cpu": DistillPreset(num_train_epochs=2.0, learning_rate=5e-5, lr_scheduler_kwargs={"min_lr": 5e-6},
                              warmup_steps=0.05, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                              max_length=1024, bf16=False, gradient_checkpointing=False, save_steps=1_000_000,
                              save_total_limit=1, lora_learning_rate=5e-4),
}
_LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_learning_rate")


def to_prompt_completion(dataset: Any) -> Any:
    """Chat-messages rows -> TRL conversational prompt-completion rows (the last turn must be the assistant's)."""
    def split(row: dict[str, Any]) -> dict[str, Any]:
        msgs = row["messages"]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise UsageError("every training row's last message must be the assistant's reply")
        return {"prompt": msgs[:-1], "completion": msgs[-1:]}

    return dataset.map(split, remove_columns=dataset.column_names)


def sft_config(preset: DistillPreset, output_dir: Path, lora: bool) -> Any:
    """The `trl.SFTConfig` for a preset."""
    from trl import SFTConfig

    kwargs = {k: v for k, v in asdict(preset).items() if k not in _LORA_FIELDS}
    if lora and preset.lora_learning_rate:
        kwargs["learning_rate"] = preset.lora_learning_rate
    return SFTConfig(output_dir=str(output_dir), report_to="none", completion_only_loss=True,
                     save_strategy="steps", dataloader_num_workers=0, **kwargs)


class TrainLogCallback:
    """Appends each logged step (loss, learning rate, grad norm, ...) to `train_log.jsonl`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def make(self) -> Any:
        from transformers import TrainerCallback

        path = self.path

        class _Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
                if logs and state.is_world_process_zero:
                    with path.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")

        return _Callback()


def train_student(student: str | None, data: Path, output: Path, *, preset: str = "tiny-cpu", lora: bool = False,
                  overrides: dict[str, Any] | None = None, gate: Any = None) -> Path:
    """SFT `student` (HF dir, .gguf, hub id; default the embedded SmolLM2-135M) on the chat dataset in `data`.
    Writes checkpoints, `train_log.jsonl`, `train_config.json` and the final full model in `output/model`
    (LoRA adapters are merged into it). `gate` (an `rl.gating.GateSettings`) evaluates the student through
    the harness every `gate.every` steps, as GRPO does, keeping the best in `output/gate/best`.
    Returns `output/model`."""
    from distill.filter import load_chat_dataset
    from r1eval.models import load_tokenizer, load_trainable_model, resolve_model

    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = replace(PRESETS[preset], **(overrides or {}))
    dataset = load_chat_dataset(data)
    if len(dataset) == 0:
        raise UsageError(f"{data}: the training set is empty (the filter kept nothing); loosen the filter")
    spec = resolve_model(student)
    output.mkdir(parents=True, exist_ok=True)
    model = load_trainable_model(spec, "float32")
    tokenizer = load_tokenizer(spec)
    tokenizer.padding_side = "right"
    return _fit(model, tokenizer, to_prompt_completion(dataset), cfg, output, lora=lora, gate=gate,
                provenance={"student": spec.name, "student_sha256": spec.sha256(), "data": str(data),
                            "rows": len(dataset), "preset": preset, "lora": lora, "config": asdict(cfg),
                            "gate": gate.describe() if gate is not None else None})


def _fit(model: Any, tokenizer: Any, dataset: Any, cfg: DistillPreset, output: Path, *, lora: bool,
         gate: Any, provenance: dict[str, Any]) -> Path:
    from trl import SFTTrainer

    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    (output / "train_log.jsonl").unlink(missing_ok=True)
    callbacks = [TrainLogCallback(output / "train_log.jsonl").make()]
    if gate is not None:
        from rl.gating import make_gate_callback

        callbacks.append(make_gate_callback(gate, tokenizer, output / "gate", provenance["student"]))
    trainer = SFTTrainer(model=model, args=sft_config(cfg, output / "checkpoints", lora), train_dataset=dataset,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    t0 = time.perf_counter()
    result = trainer.train()
    final = output / "model"
    trained = trainer.model
    if lora:
        trained = trained.merge_and_unload()
    trained.save_pretrained(final)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(final)
    provenance = {**provenance, "train_seconds": round(time.perf_counter() - t0, 1),
                  "global_steps": result.global_step, "train_loss": result.training_loss}
    (output / "train_config.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n",
                                              encoding="utf-8")
    return final
