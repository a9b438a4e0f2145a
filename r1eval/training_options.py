"""Options every training command shares (`r1eval grpo`, `r1eval distill train`): launch planning (processes,
machines, an accelerate/DeepSpeed config, a time budget) and the harness gate. Fields are flags and
`--config` YAML keys (see `r1eval.recipes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.recipes import ACCELERATE_DIR, option, read_mapping
from r1eval.training import GateSettings


@dataclass(frozen=True)
class GateOptions:
    """Evaluate the policy with the harness during training (`r1eval.training.GateSettings`); the same flags for
    `r1eval grpo` and `r1eval distill train`."""

    gate_bench: list[str] = option([], "evaluate the model on this bench during training (repeatable)",
                                   append=True, show_default=False)
    gate_every: int = option(GateSettings.every, "steps between gate evaluations")
    gate_n: int = option(GateSettings.n, "samples per problem in gate evaluations")
    gate_limit: int | None = option(GateSettings.limit, "problems per gate bench (none = all)")
    gate_max_tokens: int = option(GateSettings.max_tokens, "max new tokens in gate evaluations")
    stop_on_regression: bool = option(False, "stop when a gate bench is significantly worse than at the best step")

    def settings(self) -> GateSettings | None:
        """The gate's settings, None without --gate-bench (a bad bench name fails here, before training)."""
        if not self.gate_bench:
            return None
        from r1eval.benches import get_bench

        for name in self.gate_bench:
            if not name.endswith(".jsonl"):
                get_bench(name)
        for name in ("gate_every", "gate_n", "gate_max_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be >= 1 (got {getattr(self, name)})")
        return GateSettings(benches=list(self.gate_bench), every=self.gate_every, n=self.gate_n,
                            limit=self.gate_limit, max_tokens=self.gate_max_tokens,
                            stop_on_regression=self.stop_on_regression)


@dataclass(frozen=True)
class LaunchOptions:
    """Planning and bounding a training run; shared by `r1eval grpo` and `r1eval distill train`."""

    num_processes: int | None = option(None, "processes in all (accelerate's --num_processes): plan for N with "
                                             "--dry-run; a real run checks the launch has N", show_default=False)
    num_machines: int = option(1, "machines (nodes) the processes are spread over; --dry-run prints each node's "
                                  "launch line")
    accelerate_config: str | None = option(None, "an accelerate config (a shipped name: zero2, zero3, or a path) "
                                                 "to plan with (--dry-run reads its processes, machines, "
                                                 "DeepSpeed stage)", show_default=False)
    max_minutes: float | None = option(None, "stop training after this many minutes, with a checkpoint (rerun to "
                                             "continue)", show_default=False)

    def accelerate_file(self) -> Path | None:
        """The accelerate config file named by `accelerate_config` (shipped name or path)."""
        if self.accelerate_config is None:
            return None
        shipped = ACCELERATE_DIR / f"{self.accelerate_config}.yaml"
        path = shipped if shipped.is_file() else Path(self.accelerate_config)
        if not path.is_file():
            names = ", ".join(sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")))
            raise UsageError(f"accelerate_config {self.accelerate_config!r} is neither a shipped config ({names}) "
                             "nor a file")
        return path

    def topology(self, launched: int) -> tuple[int, int, dict[str, Any] | None]:
        """(processes, machines, accelerate config mapping or None): flags first, then the accelerate config,
        then this launch's world size; a split that does not fit the machines is a UsageError."""
        path = self.accelerate_file()
        acc = read_mapping(path) if path else None
        processes = self.num_processes or (int(acc.get("num_processes", launched)) if acc else launched)
        machines = self.num_machines if self.num_machines != 1 or not acc else int(acc.get("num_machines", 1))
        if machines < 1 or processes < 1:
            raise UsageError(f"num_processes and num_machines must be >= 1 (got {processes}, {machines})")
        if processes % machines:
            raise UsageError(f"num_processes {processes} (all machines together) is not a multiple of num_machines "
                             f"{machines}; pass `num_processes` MACHINES x GPUS_PER_MACHINE")
        return processes, machines, acc

    def launch_lines(self, processes: int, machines: int, command: str) -> list[str]:
        """The `accelerate launch` line to run on each machine (rank 0 first)."""
        path = self.accelerate_file()
        config = f"--config_file {path} " if path else ""
        if machines == 1:
            return [f"accelerate launch {config}--num_processes {processes} -m r1eval {command}"]
        return [f"accelerate launch {config}--num_machines {machines} --num_processes {processes} --machine_rank "
                f"{rank} --main_process_ip MAIN_NODE_IP --main_process_port 29500 -m r1eval {command}"
                for rank in range(machines)]


def deepspeed_notes(acc: dict[str, Any] | None, *, bf16: bool, lora_reset: bool,
                    gate: bool = False) -> dict[str, Any] | None:
    """What a DeepSpeed accelerate config means for this run, checked against its dtype and reference reset."""
    if not acc or acc.get("distributed_type") != "DEEPSPEED":
        return None
    stage = int((acc.get("deepspeed_config") or {}).get("zero_stage", 0))
    precision = str(acc.get("mixed_precision", "no"))
    if (precision == "bf16") != bf16:
        raise UsageError(f"the accelerate config's mixed_precision is {precision!r} but the recipe trains in "
                         f"{'bfloat16' if bf16 else 'float32'}; make them agree (dtype / bf16 in the recipe)")
    if lora_reset and stage == 3:
        raise UsageError("ZeRO-3 shards the weights, but the LoRA reference reset merges the adapter into them; "
                         "use ZeRO-2, full training, or sync_ref_model: false")
    if gate and stage == 3:
        raise UsageError("the gate evaluates the policy on the main process, which needs unsharded weights; use "
                         "ZeRO-2 with `gate_bench`, or drop it under ZeRO-3")
    return {"zero_stage": stage, "mixed_precision": precision,
            "shards": {1: "optimizer state", 2: "optimizer state and gradients",
                       3: "optimizer state, gradients and parameters"}.get(stage, "nothing")}
