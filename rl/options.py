"""`r1eval grpo`'s options beyond the recipe: where to train (model, data, output, processes, machines, vLLM
mode) and the harness gate. With `GRPOPreset` they are the command's whole configuration: every field is a
flag and a `--config` YAML key (`GRPO_OPTIONS`, `grpo_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from r1eval.errors import UsageError
from r1eval.recipes import RECIPE_DIR, option, read_mapping, resolve_options
from rl.gating import GateSettings
from rl.presets import GRPOPreset

DEFAULT_PRESET = "tiny-cpu"
ACCELERATE_DIR = RECIPE_DIR / "accelerate"  # shipped `accelerate launch --config_file` files (DeepSpeed ZeRO)


@dataclass(frozen=True)
class GateOptions:
    """Evaluate the policy with the harness during training (`rl.gating.GateSettings`); the same flags for
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
                raise UsageError(f"{name} must be >= 1 (got {getattr(self, name)})")
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
                             f"{machines}; pass --num-processes MACHINES x GPUS_PER_MACHINE")
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


def deepspeed_notes(acc: dict[str, Any] | None, *, bf16: bool, lora_reset: bool) -> dict[str, Any] | None:
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
    return {"zero_stage": stage, "mixed_precision": precision,
            "shards": {1: "optimizer state", 2: "optimizer state and gradients",
                       3: "optimizer state, gradients and parameters"}.get(stage, "nothing")}


@dataclass(frozen=True)
class GRPOInputs:
    """What `r1eval grpo` trains: model, data, output, seed, LoRA, vLLM mode."""

    model: str | None = option(None, "HF model directory, .gguf file or hub id (default: embedded SmolLM2-135M)",
                               show_default=False)
    data: str | None = option(None, "math bench name or a JSONL of problem/answer rows (required unless --dry-run)",
                              show_default=False)
    output: Path | None = option(None, "run directory (steps.jsonl, final/, gate/); rerunning the same command "
                                       "with it continues the run (required unless --dry-run)", show_default=False)
    seed: int = option(0, "training seed")
    limit: int | None = option(None, "train on the first N problems only", show_default=False)
    lora_r: int | None = option(None, "train a LoRA adapter of this rank (peft) instead of all weights",
                                show_default=False)
    lora_alpha: int | None = option(None, "LoRA alpha (none = 2 x rank)", show_default=False)
    vllm_mode: Literal["colocate", "server"] = option(
        "colocate", "with vLLM: 'colocate' (an engine inside each training process) or 'server' (a `trl vllm-serve` "
                    "server on other GPUs/nodes; implies use_vllm)")
    vllm_server_host: str = option("127.0.0.1", "server mode: host of the `trl vllm-serve` server")
    vllm_server_port: int = option(8000, "server mode: its port")
    vllm_gpu_memory_utilization: float = option(0.3, "colocate mode: GPU memory share of each vLLM engine")

    def validate(self) -> None:
        for name in ("limit", "lora_r", "lora_alpha"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise UsageError(f"vllm_gpu_memory_utilization must be in (0, 1] (got {self.vllm_gpu_memory_utilization})")
        if not 0 < self.vllm_server_port < 65536:
            raise UsageError(f"vllm_server_port must be a TCP port (got {self.vllm_server_port})")


GRPO_OPTIONS = (GRPOPreset, GRPOInputs, LaunchOptions, GateOptions)


def grpo_options(config: str | Path | dict[str, Any] | None = None, overrides: dict[str, Any] | None = None, *,
                 preset: str | None = None) -> tuple[GRPOPreset, GRPOInputs, LaunchOptions, GateOptions]:
    """`r1eval grpo`'s whole configuration from a recipe (`preset`, the config's `preset:` key, else tiny-cpu),
    a config (YAML path or mapping of option names) and overrides; each part validated."""
    recipe, inputs, launch, gate = resolve_options("grpo", GRPO_OPTIONS, preset=preset, config=config,
                                                   overrides=overrides, default_preset=DEFAULT_PRESET)
    if inputs.vllm_mode == "server":
        if recipe.use_vllm is False:
            raise UsageError("vllm_mode server generates with vLLM, but use_vllm is false; drop one of them")
        from dataclasses import replace

        recipe = replace(recipe, use_vllm=True)
    recipe.validate()
    inputs.validate()
    return recipe, inputs, launch, gate


def grpo_run(recipe: GRPOPreset, inputs: GRPOInputs, launch: LaunchOptions, gate: GateOptions) -> Any:
    """The `rl.train.GRPORun` these options describe."""
    from r1eval.models import resolve_model
    from rl.train import GRPORun

    return GRPORun(model=resolve_model(inputs.model), data=inputs.data or "", preset=recipe, output=inputs.output,
                   seed=inputs.seed, limit=inputs.limit, lora_r=inputs.lora_r, lora_alpha=inputs.lora_alpha,
                   gate=gate.settings(), max_minutes=launch.max_minutes, num_processes=launch.num_processes,
                   vllm_mode=inputs.vllm_mode, vllm_server_host=inputs.vllm_server_host,
                   vllm_server_port=inputs.vllm_server_port,
                   vllm_gpu_memory_utilization=inputs.vllm_gpu_memory_utilization)


def grpo_plan(recipe: GRPOPreset, inputs: GRPOInputs, launch: LaunchOptions, gate: GateOptions,
              command: str = "grpo ...") -> dict[str, Any]:
    """`r1eval grpo --dry-run`: the options as given (`config`, a --config file's shape), the batch plan for
    the planned processes and machines, each machine's launch line, DeepSpeed notes, and TRL's full config."""
    from r1eval.recipes import options_dict
    from rl.train import grpo_dry_run
    from rl.training import launched_world_size

    processes, machines, acc = launch.topology(launched_world_size())
    run = grpo_run(recipe, inputs, launch, gate)
    plan = grpo_dry_run(run, processes)
    lora_reset = bool(inputs.lora_r) and run.resets_reference
    plan.update(num_machines=machines, processes_per_machine=processes // machines,
                launch=launch.launch_lines(processes, machines, command),
                deepspeed=deepspeed_notes(acc, bf16=recipe.dtype == "bfloat16", lora_reset=lora_reset),
                vllm_mode=inputs.vllm_mode if plan["use_vllm"] else None,
                config=options_dict(recipe, inputs, launch, gate))
    if plan["vllm_mode"] == "server":
        plan["vllm_server"] = (f"trl vllm-serve --model {inputs.model or 'MODEL'} --host 0.0.0.0 --port "
                               f"{inputs.vllm_server_port}   # on GPUs the training processes do not use")
    return plan
