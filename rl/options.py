"""`r1eval grpo`'s options beyond the recipe: what to train (model, data, output, LoRA, vLLM mode); with
`GRPOPreset`, `LaunchOptions` and `GateOptions` they are the command's whole configuration: every field is a
flag and a `--config` YAML key (`GRPO_OPTIONS`, `grpo_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from r1eval.errors import ConfigError, UsageError
from r1eval.recipes import option, resolve_options
from r1eval.rl.presets import GRPOPreset
from r1eval.training_options import GateOptions, LaunchOptions, deepspeed_notes

DEFAULT_PRESET = "tiny-cpu"


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
                raise ConfigError(name, f"must be >= 1 (got {getattr(self, name)})")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ConfigError("vllm_gpu_memory_utilization", f"must be in (0, 1] (got "
                                                             f"{self.vllm_gpu_memory_utilization})")
        if not 0 < self.vllm_server_port < 65536:
            raise ConfigError("vllm_server_port", f"must be a TCP port (got {self.vllm_server_port})")


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


def grpo_run(recipe: GRPOPreset, inputs: GRPOInputs, launch: LaunchOptions, gate: GateOptions,
             check_hub: bool = True) -> Any:
    """The `rl.train.GRPORun` these options describe (`check_hub=False`: a plan only, the model is not loaded)."""
    from r1eval.models import resolve_model
    from r1eval.rl.train import GRPORun

    model = resolve_model(inputs.model, check_hub=check_hub)
    return GRPORun(model=model, data=inputs.data or "", preset=recipe, output=inputs.output,
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
    from r1eval.rl.train import grpo_dry_run
    from r1eval.training import launched_world_size

    processes, machines, acc = launch.topology(launched_world_size())
    run = grpo_run(recipe, inputs, launch, gate, check_hub=False)  # a dry run loads no model
    plan = grpo_dry_run(run, processes)
    lora_reset = bool(inputs.lora_r) and run.resets_reference
    plan.update(num_machines=machines, processes_per_machine=processes // machines,
                launch=launch.launch_lines(processes, machines, command),
                deepspeed=deepspeed_notes(acc, bf16=recipe.dtype == "bfloat16", lora_reset=lora_reset,
                                          gate=bool(gate.gate_bench)),
                vllm_mode=inputs.vllm_mode if plan["use_vllm"] else None,
                config=options_dict(recipe, inputs, launch, gate))
    if plan["vllm_mode"] == "server":
        plan["vllm_server"] = (f"trl vllm-serve --model {inputs.model or 'MODEL'} --host 0.0.0.0 --port "
                               f"{inputs.vllm_server_port}   # on GPUs the training processes do not use")
    return plan
