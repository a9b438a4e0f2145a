"""`r1eval grpo`: GRPO on TRL's GRPOTrainer with R1's rule rewards, a per-step JSONL log and optional
harness gating.

Run directory layout (`--output DIR`):
    config.json        preset, model (+sha256), data (+sha256), versions, command
    steps.jsonl        one line per optimizer step: rewards by component, KL, clip fraction, lengths, times
    checkpoints/       TRL checkpoints (every preset.save_steps)
    final/             the trained policy (HF directory, LoRA merged)
    gate/              harness evaluations of the policy during training (see rl.gating), best/ = best one
    tensorboard/       TensorBoard events, when tensorboard is installed
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.models import ModelSpec, model_cache_dir
from r1eval.records import read_jsonl
from r1eval.rundir import write_json
from rl.presets import GRPOPreset
from rl.rewards import REWARDS
from rl.templates import apply_template, problem_statement

# TRL metric name -> steps.jsonl field (rewards/<func>/mean are added per reward function)
STEP_FIELDS = {
    "reward": "reward", "reward_std": "reward_std", "kl": "kl", "clip_ratio/region_mean": "clip_fraction",
    "clip_ratio/low_mean": "clip_fraction_low", "clip_ratio/high_mean": "clip_fraction_high",
    "completions/mean_length": "completion_length", "completions/clipped_ratio": "truncated_fraction",
    "entropy": "entropy", "frac_reward_zero_std": "frac_groups_zero_std", "loss": "loss",
    "grad_norm": "grad_norm", "learning_rate": "learning_rate", "step_time": "step_time",
    "time/generation": "time_generation", "time/reward": "time_reward",
}


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
        if bench.kind != "math":
            raise UsageError(f"bench {data} is {bench.kind}; GRPO here trains on math benches or problem/answer "
                             "JSONL")
        rows = [{"id": p.id, "problem": problem_statement(p.messages), "answer": str(p.gold)}
                for p in bench.load(LoadOptions())]
    else:
        raise UsageError(f"--data {data!r} is neither a bench name ({', '.join(REGISTRY)}) nor a .jsonl file")
    if not rows:
        raise UsageError(f"--data {data} has no problems")
    return TrainingData(data, rows[:limit] if limit else rows)


def build_dataset(data: TrainingData, preset: GRPOPreset) -> Any:
    """A `datasets.Dataset` with TRL's `prompt` column plus `answer`, `problem_id`, `language`."""
    import datasets

    return datasets.Dataset.from_list([
        {"prompt": apply_template(preset.template, r["problem"]), "answer": r["answer"], "problem_id": r["id"],
         "language": preset.language} for r in data.rows])


def vllm_usable() -> bool:
    """vLLM generation inside TRL needs vLLM and a CUDA device."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


class StepLog:
    """TrainerCallback body: every TRL log line -> one JSON line in steps.jsonl with our field names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, step: int, logs: dict[str, Any]) -> dict[str, Any] | None:
        if "reward" not in logs:  # the final train summary and eval logs are not steps
            return None
        row: dict[str, Any] = {"step": step, "time": time.time()}
        for key, name in STEP_FIELDS.items():
            if key in logs:
                row[name] = logs[key]
        row["rewards"] = {k.split("/")[1]: v for k, v in logs.items()
                          if k.startswith("rewards/") and k.endswith("/mean")}
        if "step_time" in row:
            gen, rew = row.get("time_generation") or 0.0, row.get("time_reward") or 0.0
            row["time_update"] = max(0.0, row["step_time"] - gen - rew)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        return row


def make_trainer_classes() -> tuple[type, type, type]:
    """(GRPO trainer that times generation and rewards, steps.jsonl callback, time-budget callback); built lazily to keep
    trl/transformers imports out of `r1eval` start-up."""
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that adds generation and reward wall time to each step's metrics, so the step time
        splits into generation, reward and update (forward/backward/optimizer)."""

        def _generate(self, prompts: list) -> Any:
            t0 = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                self._phase_times["generation"] += time.perf_counter() - t0

        def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            finally:
                self._phase_times["reward"] += time.perf_counter() - t0

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            if not hasattr(self, "_phase_times"):
                self._phase_times = defaultdict(float)
            out = super().training_step(model, inputs, num_items_in_batch)
            if self._step % self.current_gradient_accumulation_steps == 0:
                self._metrics["train"]["time/generation"].append(self._phase_times.pop("generation", 0.0))
                self._metrics["train"]["time/reward"].append(self._phase_times.pop("reward", 0.0))
            return out

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            if not hasattr(self, "_phase_times"):
                self._phase_times = defaultdict(float)
            return super()._prepare_inputs(generation_batch)

    class TimeBudgetCallback(TrainerCallback):
        """Stops training once `minutes` of wall time have passed since the first step began."""

        def __init__(self, minutes: float) -> None:
            self.seconds, self.start = minutes * 60, None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.start is not None and time.perf_counter() - self.start > self.seconds:
                control.should_training_stop = True

    class StepLogCallback(TrainerCallback):
        """Writes steps.jsonl (see StepLog)."""

        def __init__(self, path: Path) -> None:
            self.log = StepLog(path)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs and state.is_world_process_zero:
                self.log.record(state.global_step, logs)

    return TimedGRPOTrainer, StepLogCallback, TimeBudgetCallback


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
    gate: Any = None  # rl.gating.GateSettings
    max_minutes: float | None = None  # stop after this much training wall time
    custom_rewards: dict[str, tuple[Any, float]] = field(default_factory=dict)  # Python API: name -> (func, weight)
    extra_config: dict[str, Any] = field(default_factory=dict)  # raw GRPOConfig overrides


def save_policy(model: Any, tokenizer: Any, out: Path) -> Path:
    """Save the policy as a plain HF directory; a peft model is merged into a copy first."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def train_grpo(run: GRPORun) -> Path:
    """Train with GRPO and return the final policy's directory."""
    import importlib.util

    from r1eval.models import materialize_model
    from r1eval.runner import data_sha256, git_commit, package_versions

    run.preset.validate()
    data = load_training_data(run.data, run.limit)
    if len(data.rows) < run.preset.prompts_per_step:
        raise UsageError(f"--data has {len(data.rows)} problems but the preset takes {run.preset.prompts_per_step} "
                         "prompts per step; give more problems or a smaller preset")
    run.output.mkdir(parents=True, exist_ok=True)
    steps_path = run.output / "steps.jsonl"
    if steps_path.exists() and steps_path.stat().st_size:
        raise UsageError(f"{run.output} already holds a training run (steps.jsonl); pass a new --output")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = materialize_model(run.model, model_cache_dir(run.model, "float32"), dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if run.preset.template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"{run.model.name} has no chat template; use a preset with template r1-zero "
                         "(e.g. --preset r1-zero) for base models")
    import torch

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, run.preset.dtype))

    use_vllm = run.preset.use_vllm if run.preset.use_vllm is not None else vllm_usable()
    report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    if report_to:
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(run.output / "tensorboard"))
    grpo_config = run.preset.to_grpo_config(
        str(run.output / "checkpoints"), seed=run.seed, report_to=report_to, use_vllm=use_vllm,
        use_cpu=not torch.cuda.is_available(),
        **run.extra_config)
    peft_config = None
    if run.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(r=run.lora_r, lora_alpha=run.lora_alpha or 2 * run.lora_r,
                                 target_modules="all-linear", task_type="CAUSAL_LM")

    write_json(run.output / "config.json", {
        "kind": "grpo", "preset": run.preset.describe(), "model": run.model.name, "model_source": run.model.source,
        "model_sha256": run.model.sha256(), "model_dir": str(model_dir), "data": data.source,
        "num_problems": len(data.rows), "data_sha256": data_sha256_rows(data.rows), "seed": run.seed,
        "lora": {"r": run.lora_r, "alpha": run.lora_alpha or (2 * run.lora_r if run.lora_r else None)},
        "use_vllm": use_vllm, "reward_funcs": list(run.preset.rewards) + list(run.custom_rewards), "extra_config": run.extra_config,
        "gate": run.gate.describe() if run.gate else None, "versions": package_versions(),
        "git_commit": git_commit(), "command": __import__("sys").argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    del data_sha256  # rows have no Problem objects; data_sha256_rows hashes them the same way

    trainer_cls, step_log_cls, time_budget_cls = make_trainer_classes()
    callbacks = [step_log_cls(steps_path)]
    if run.max_minutes:
        callbacks.append(time_budget_cls(run.max_minutes))
    if run.gate is not None:
        from rl.gating import make_gate_callback

        callbacks.append(make_gate_callback(run.gate, tokenizer, run.output / "gate", run.model.name))
    reward_funcs = [REWARDS[name] for name in run.preset.rewards] + [f for f, _ in run.custom_rewards.values()]
    grpo_config.reward_weights = list(run.preset.rewards.values()) + [w for _, w in run.custom_rewards.values()]
    trainer = trainer_cls(
        model=model, reward_funcs=reward_funcs, args=grpo_config,
        train_dataset=build_dataset(data, run.preset), processing_class=tokenizer, callbacks=callbacks,
        peft_config=peft_config)
    trainer.train()
    return save_policy(trainer.model, tokenizer, run.output / "final")


def data_sha256_rows(rows: list[dict[str, Any]]) -> str:
    """Hash of the training problems (ids, problems, answers)."""
    import hashlib

    payload = json.dumps([[r["id"], r["problem"], r["answer"]] for r in rows], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
