"""`r1eval grpo`: GRPO on TRL's GRPOTrainer with R1's rule rewards, a per-step JSONL log, optional
harness gating, LoRA with R1's reference resets, resume, and any number of processes.

Run directory layout (`--output DIR`):
    config.json        kind, settings (what a resume must match), batch plan, model (+sha256), data (+sha256),
                       versions, git commit, command, and one `resumes` entry per continuation
    steps.jsonl        one line per optimizer step (r1eval.training): rewards by component, KL, clip fraction,
                       lengths, times
    checkpoints/       TRL checkpoints: every preset.save_steps, after each gate evaluation, at the end, and
                       when the time budget or the gate stops training
    final/             the trained policy (HF directory, LoRA merged)
    gate/              harness evaluations of the policy during training (see r1eval.training_callbacks.GateCallback), best/ = best one
    tensorboard/       TensorBoard events, when tensorboard is installed

Rerunning the same command with the same --output continues from the last checkpoint (optimizer,
scheduler, RNG, step, gate history); a larger --max-steps extends the run; other changed settings are
refused. Under `accelerate launch` / `torchrun` the preset's per-step numbers hold whatever the number
of processes (`GRPOPreset.plan`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.models import ModelSpec, model_cache_dir
from r1eval.records import read_jsonl
from r1eval.rl.presets import BatchPlan, GRPOPreset
from r1eval.rl.rewards import REWARDS
from r1eval.rl.templates import apply_template, opens_think, problem_statement
from r1eval.training import (
    CHECKPOINTS_DIR,
    STEPS_FILE,
    init_distributed,
    launched_world_size,
    on_main_first,
    open_training_dir,
    refuse_gate_when_sharded,
    train_and_save,
)

# TRL metric name -> steps.jsonl field (rewards/<func>/mean are added per reward function)
STEP_FIELDS = {
    "reward": "reward", "reward_std": "reward_std", "kl": "kl", "clip_ratio/region_mean": "clip_fraction",
    "clip_ratio/low_mean": "clip_fraction_low", "clip_ratio/high_mean": "clip_fraction_high",
    "completions/mean_length": "completion_length", "completions/clipped_ratio": "truncated_fraction",
    "entropy": "entropy", "frac_reward_zero_std": "frac_groups_zero_std", "loss": "loss",
    "grad_norm": "grad_norm", "learning_rate": "learning_rate", "step_time": "step_time",
    "num_tokens": "num_tokens", "time_generation": "time_generation", "time_reward": "time_reward",
}  # time_generation / time_reward: rl.callbacks.GRPOPhaseTimer


@dataclass
class TrainingData:
    """Training prompts with their gold answers, and where they came from."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # id, problem, answer


def load_training_data(data: str, limit: int | None = None) -> TrainingData:
    """Problems from a registered bench name or a JSONL of problem/answer rows."""
    from r1eval.benches import REGISTRY, LoadOptions

    if data.endswith(".jsonl"):
        raw = read_jsonl(data)
        rows = []
        for i, r in enumerate(raw, 1):
            if r.get("problem") in (None, "") or r.get("answer") in (None, ""):
                raise UsageError(f"{data}: row {i} needs 'problem' and 'answer' fields")
            rows.append({"id": str(r.get("id", i - 1)), "problem": str(r["problem"]), "answer": str(r["answer"])})
    elif data in REGISTRY:
        bench = REGISTRY[data]
        if bench.grader_family != "math":  # the accuracy reward is math-verify against the gold answer
            raise UsageError(f"bench {data} is {bench.kind}; GRPO here trains on math benches or problem/answer "
                             "JSONL")
        rows = [{"id": p.id, "problem": problem_statement(p.messages), "answer": str(p.gold)}
                for p in bench.load(LoadOptions())]
    else:
        raise ConfigError("data", f"{data!r} is neither a bench name ({', '.join(REGISTRY)}) nor a .jsonl file")
    if not rows:
        raise ConfigError("data", f"{data} has no problems")
    return TrainingData(data, rows[:limit] if limit else rows)


def build_dataset(data: TrainingData, preset: GRPOPreset, tokenizer: Any) -> Any:
    """A `datasets.Dataset` with TRL's `prompt` column plus `answer`, `problem_id`, `language`, and
    `prompt_opens_think` (the rendered prompt ends with `<think>`, so the format rewards count the
    completion as already inside the reasoning)."""
    import datasets

    rows = []
    for r in data.rows:
        prompt = apply_template(preset.template, r["problem"])
        rows.append({"prompt": prompt, "answer": r["answer"], "problem_id": r["id"], "language": preset.language,
                     "prompt_opens_think": opens_think(prompt, tokenizer)})
    return datasets.Dataset.from_list(rows)


def vllm_usable() -> bool:
    """vLLM generation inside TRL needs vLLM and a CUDA device."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def grpo_step_row(logs: dict[str, Any]) -> dict[str, Any] | None:
    """One TRL log line as a steps.jsonl row with our field names (None for non-step logs)."""
    if "reward" not in logs:  # the final train summary and eval logs are not steps
        return None
    row: dict[str, Any] = {name: logs[key] for key, name in STEP_FIELDS.items() if key in logs}
    row["rewards"] = {k.split("/")[1]: v for k, v in logs.items() if k.startswith("rewards/") and k.endswith("/mean")}
    if "step_time" in row:
        gen, rew = row.get("time_generation") or 0.0, row.get("time_reward") or 0.0
        row["time_update"] = max(0.0, row["step_time"] - gen - rew)
    return row


@dataclass
class GRPORun:
    """Everything one `r1eval grpo` needs."""

    model: ModelSpec
    data: str
    preset: GRPOPreset
    output: Path
    seed: int = 0
    limit: int | None = None
    lora_r: int | None = None  # LoRA rank; None = full fine-tuning
    lora_alpha: int | None = None
    gate: Any = None  # r1eval.training.GateSettings
    max_minutes: float | None = None  # stop after this much training wall time (a rerun continues)
    num_processes: int | None = None  # the launch must have this many processes (None: whatever it has)
    vllm_mode: str = "colocate"  # or "server": a `trl vllm-serve` server at vllm_server_host:vllm_server_port
    vllm_server_host: str = "127.0.0.1"
    vllm_server_port: int = 8000
    vllm_gpu_memory_utilization: float = 0.3  # colocate: each engine's share of its GPU
    custom_rewards: dict[str, tuple[Any, float]] = field(default_factory=dict)  # Python API: name -> (func, weight)
    extra_config: dict[str, Any] = field(default_factory=dict)  # raw GRPOConfig overrides

    @property
    def lora(self) -> dict[str, int | None]:
        return {"r": self.lora_r, "alpha": self.lora_alpha or (2 * self.lora_r if self.lora_r else None)}

    @property
    def resets_reference(self) -> bool:
        return self.preset.sync_ref_model and self.preset.beta > 0

    def use_vllm(self) -> bool:
        return self.preset.use_vllm if self.preset.use_vllm is not None else vllm_usable()

    def grpo_config(self, output_dir: str, plan: BatchPlan) -> Any:
        import importlib.util

        import torch

        report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
        extra: dict[str, Any] = {}
        if self.use_vllm():
            extra["vllm_mode"] = self.vllm_mode
            if self.vllm_mode == "server":
                extra.update(vllm_server_host=self.vllm_server_host, vllm_server_port=self.vllm_server_port)
            else:
                extra["vllm_gpu_memory_utilization"] = self.vllm_gpu_memory_utilization
        extra.update(self.extra_config)
        if self.gate is not None:  # the other processes wait in a collective while the main one evaluates
            extra.setdefault("ddp_timeout", 6 * 3600)
        return self.preset.to_grpo_config(output_dir, plan, seed=self.seed, report_to=report_to,
                                          use_vllm=self.use_vllm(), lora=bool(self.lora_r),
                                          use_cpu=not torch.cuda.is_available(), **extra)


def grpo_dry_run(run: GRPORun, num_processes: int | None = None) -> dict[str, Any]:
    """The effective batch numbers on `num_processes` processes (default: `run.num_processes`, else this
    launch's) and the full TRL config, without loading a model or data. TRL derives `steps_per_generation`
    from the live world size, so the printed config carries the planned world size's value."""
    plan = run.preset.plan(num_processes or run.num_processes or launched_world_size())
    output_dir = str(run.output / CHECKPOINTS_DIR) if run.output else CHECKPOINTS_DIR
    trl_config = run.grpo_config(output_dir, plan).to_dict()
    trl_config["steps_per_generation"] = plan.steps_per_generation
    return {**asdict(plan), "preset": run.preset.name, "max_steps": run.preset.max_steps, "lora": run.lora,
            "reference_policy": run.preset.reference_policy(bool(run.lora_r)), "use_vllm": run.use_vllm(),
            "grpo_config": trl_config}


def build_trainer(run: GRPORun) -> tuple[Any, Any, Path | None]:
    """Everything before `trainer.train()`: batch plan, data, run directory (new, or reopened to resume),
    model, TRL config and callbacks. Returns (trainer, tokenizer, checkpoint to resume from or None)."""
    from r1eval.models import materialize_model
    from r1eval.runner import git_commit, package_versions

    init_distributed()
    num_processes = launched_world_size()
    if run.num_processes and run.num_processes != num_processes:
        raise ConfigError("num_processes", f"{run.num_processes} but this launch has {num_processes} process(es); "
                          "launch with `accelerate launch --num_processes N` (or plan N processes only with a dry run)")
    plan = run.preset.plan(num_processes)
    data = load_training_data(run.data, run.limit)
    if len(data.rows) < run.preset.prompts_per_step:
        raise ConfigError("data", f"has {len(data.rows)} problems but the preset takes {run.preset.prompts_per_step} "
                         "prompts per step; give more problems or a smaller preset")
    use_vllm = run.use_vllm()
    settings = {
        "preset": {k: v for k, v in run.preset.describe().items() if k != "max_steps"},
        "model": run.model.name, "model_sha256": run.model.sha256(), "data": data.source,
        "data_sha256": data_sha256_rows(data.rows), "seed": run.seed, "lora": run.lora, "use_vllm": use_vllm,
        "reward_funcs": list(run.preset.rewards) + list(run.custom_rewards), "extra_config": run.extra_config,
        "gate": run.gate.describe() if run.gate else None, "num_processes": num_processes}
    checkpoint = open_training_dir(run.output, "grpo", settings, {
        "preset": run.preset.describe(), "plan": asdict(plan),
        "reference_policy": run.preset.reference_policy(bool(run.lora_r)), "model_source": run.model.source,
        "num_problems": len(data.rows), "versions": package_versions(), "git_commit": git_commit(),
        "command": __import__("sys").argv, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = on_main_first(lambda: materialize_model(run.model, model_cache_dir(run.model, "float32"),
                                                        dtype="float32"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if run.preset.template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"{run.model.name} has no chat template; use a preset with template r1-zero "
                         "(e.g. `preset` r1-zero) for base models")
    import torch

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, run.preset.dtype))
    if os.environ.get("TENSORBOARD_LOGGING_DIR") is None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run.output / "tensorboard")
    grpo_config = run.grpo_config(str(run.output / CHECKPOINTS_DIR), plan)
    if grpo_config.world_size != num_processes:
        raise UsageError(f"the launcher reports {num_processes} processes but the trainer sees "
                         f"{grpo_config.world_size}; on CPU launch with `accelerate launch --multi_gpu "
                         "--num_processes N` or `torchrun --nproc_per_node N`")
    peft_config = None
    if run.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(r=run.lora_r, lora_alpha=run.lora["alpha"], target_modules="all-linear",
                                 task_type="CAUSAL_LM")

    from trl import GRPOTrainer

    from r1eval.rl.callbacks import GRPOPhaseTimer, ReferencePolicyCallback, restore_reference
    from r1eval.training_callbacks import GateCallback, StepLogCallback, TimeBudgetCallback

    timer = GRPOPhaseTimer()
    callbacks: list[Any] = [timer, StepLogCallback(run.output / STEPS_FILE, grpo_step_row, timer.step_times)]
    if run.max_minutes:
        callbacks.append(TimeBudgetCallback(run.max_minutes))
    if run.gate is not None:
        callbacks.append(GateCallback(run.output / "gate", run.gate, run.model.name))
    reward_funcs = [timer.wrap(REWARDS[name]) for name in run.preset.rewards]
    reward_funcs += [timer.wrap(f) for f, _ in run.custom_rewards.values()]
    grpo_config.reward_weights = list(run.preset.rewards.values()) + [w for _, w in run.custom_rewards.values()]
    trainer = GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=grpo_config,
        train_dataset=build_dataset(data, run.preset, tokenizer), processing_class=tokenizer, callbacks=callbacks,
        peft_config=peft_config)
    refuse_gate_when_sharded(trainer, run.gate)
    if run.resets_reference:
        if run.lora_r and (trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled):
            raise UsageError("the LoRA reference reset (merge the adapter into the base) needs unsharded weights; "
                             "under DeepSpeed/FSDP use full training or a preset with sync_ref_model off")
        trainer.add_callback(ReferencePolicyCallback(trainer, run.preset.ref_model_sync_steps, bool(run.lora_r),
                                                     run.seed))
        if checkpoint is not None:
            restore_reference(trainer, checkpoint, bool(run.lora_r), run.preset.ref_model_sync_steps)
    return trainer, tokenizer, checkpoint


def train_grpo(run: GRPORun) -> Path:
    """Train with GRPO (or continue the run in `run.output`) and return the final policy's directory."""
    trainer, tokenizer, checkpoint = build_trainer(run)
    return train_and_save(trainer, tokenizer, checkpoint, run.output, run.output / "final")


def data_sha256_rows(rows: list[dict[str, Any]]) -> str:
    """Hash of the training problems (ids, problems, answers)."""
    import hashlib

    payload = json.dumps([[r["id"], r["problem"], r["answer"]] for r in rows], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
