"""GRPO's training hooks, through TRL/transformers' public API: `GRPOPhaseTimer` (each optimizer step's wall
time split into generation, reward and update, with a progress line per phase) and R1's reference reset
(`ReferencePolicyCallback`, `merge_and_restart_adapter`, `restore_reference`). This module imports
transformers; `rl.train` imports it when it builds a trainer."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from r1eval.errors import UsageError

REFERENCE_FILE = "reference.safetensors"  # in a checkpoint: the reference policy once it has been reset


class GRPOPhaseTimer(TrainerCallback):
    """Splits each optimizer step into generation, reward and update time, from public hooks only: the
    callback marks when each micro-batch starts (`on_step_begin`, `on_substep_end`), the reward functions are
    wrapped (`wrap`) so the first call after a mark ends the rollout phase (sampling plus the log-probability
    passes TRL makes before scoring) and each call adds to the reward time; the update is the rest of the
    step. A step that reuses an earlier generation round has no generation time. The main process prints one
    progress line when the rollouts are done, one when they are scored and one at the end of the step."""

    def __init__(self, progress: bool = True, stream: Any = None) -> None:
        self.progress = progress
        self.stream = stream if stream is not None else sys.stderr
        self.num_reward_funcs = 0
        self.times: dict[int, dict[str, float]] = {}  # optimizer step -> {"time_generation", "time_reward"}
        self._step = 0
        self._max_steps = 0
        self._main = True
        self._step_start = self._mark = 0.0
        self._generation = self._reward = 0.0
        self._calls_this_round = 0
        self._scored = 0

    def wrap(self, func: Callable[..., list[float]]) -> Callable[..., list[float]]:
        """`func` (a TRL reward function), timed; its name (TRL's metric name) and signature are kept."""
        index = self.num_reward_funcs
        self.num_reward_funcs += 1

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> list[float]:
            start = time.perf_counter()
            if self._calls_this_round == 0:  # the first reward call after a micro-batch started: rollouts done
                self._generation += start - self._mark
                completions = kwargs.get("completions", args[1] if len(args) > 1 else [])
                self._say(f"{len(completions)} rollouts in {start - self._mark:.1f} s; scoring")
            self._calls_this_round += 1
            try:
                return func(*args, **kwargs)
            finally:
                self._reward += time.perf_counter() - start
                if index == self.num_reward_funcs - 1:
                    self._say(f"rewards in {self._reward:.2f} s; updating")

        return timed

    def _say(self, text: str) -> None:
        if self.progress and self._main:
            print(f"[grpo] step {self._step}/{self._max_steps}: {text}", file=self.stream, flush=True)

    def _new_micro_batch(self) -> None:
        self._mark = time.perf_counter()
        self._calls_this_round = 0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._step, self._max_steps, self._main = state.global_step + 1, state.max_steps, state.is_world_process_zero
        self._generation = self._reward = 0.0
        self._step_start = time.perf_counter()
        self._new_micro_batch()

    def on_substep_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._new_micro_batch()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        total = time.perf_counter() - self._step_start
        self.times[state.global_step] = {"time_generation": self._generation, "time_reward": self._reward}
        self._say(f"done in {total:.1f} s (generation {self._generation:.1f}, reward {self._reward:.2f}, update "
                  f"{max(0.0, total - self._generation - self._reward):.1f})")

    def step_times(self, step: int) -> dict[str, float]:
        """The step's generation and reward seconds (for its steps.jsonl row); {} for a step not timed here."""
        return self.times.pop(step, {})


def merge_and_restart_adapter(model: Any, optimizer: Any, seed: int) -> int:
    """R1's reference reset under LoRA: add each LoRA layer's update into its base weight and start a fresh
    adapter (A drawn anew from `seed`, the same on every process; B = 0; its optimizer moments cleared).
    The policy is unchanged, and the base with adapters disabled (TRL's reference under PEFT) becomes the
    current policy. Returns the number of layers merged."""
    import torch
    from peft.tuners.lora import LoraLayer

    state = getattr(optimizer, "optimizer", optimizer).state if optimizer is not None else {}
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    merged = 0
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for module in model.modules():
            if not isinstance(module, LoraLayer) or "default" not in module.lora_A:
                continue
            base = module.get_base_layer()
            base.weight.add_(module.get_delta_weight("default").to(base.weight.dtype))
            module.reset_lora_parameters("default", True)
            for param in (module.lora_A["default"].weight, module.lora_B["default"].weight):
                state.pop(param, None)
            merged += 1
    return merged


def reference_module(trainer: Any, lora: bool) -> Any:
    """The module whose non-LoRA weights are the reference: the peft model (its base) or TRL's ref_model."""
    return trainer.model if lora else trainer.accelerator.unwrap_model(trainer.ref_model)


class ReferencePolicyCallback(TrainerCallback):
    """With LoRA, merge the adapter every `every` steps (`merge_and_restart_adapter`); for LoRA and full training
    alike, write the reference into each checkpoint saved once the reference has been reset (right after the
    checkpoint itself), so a resume restores it (`restore_reference`)."""

    def __init__(self, trainer: Any, every: int, lora: bool, seed: int) -> None:
        self.trainer, self.every, self.lora, self.seed = trainer, every, lora, seed

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                    **kwargs: Any) -> None:
        if self.lora and state.global_step % self.every == 0:
            merge_and_restart_adapter(model, optimizer, self.seed + state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from safetensors.torch import save_file

        if state.global_step >= self.every and state.is_world_process_zero:
            weights = {k: v.detach().cpu().clone().contiguous()
                       for k, v in reference_module(self.trainer, self.lora).state_dict().items() if "lora_" not in k}
            save_file(weights, str(Path(args.output_dir) / f"checkpoint-{state.global_step}" / REFERENCE_FILE))


def restore_reference(trainer: Any, checkpoint: Path, lora: bool, every: int) -> bool:
    """Load the checkpoint's reference (written once the reference was reset, i.e. from step `every` on) into
    the base weights (LoRA) or TRL's ref_model. Returns whether there was one to load."""
    from safetensors.torch import load_file

    path = checkpoint / REFERENCE_FILE
    if not path.is_file():
        if int(checkpoint.name.split("-")[1]) >= every:
            raise UsageError(f"{checkpoint} lacks {REFERENCE_FILE} (killed while saving?); delete that checkpoint "
                             "to resume from the one before")
        return False
    _, unexpected = reference_module(trainer, lora).load_state_dict(load_file(str(path)), strict=False)
    if unexpected:
        raise UsageError(f"{path} does not fit this model (unexpected {unexpected[:2]}); pass a new `output`")
    return True
