"""The options of `r1eval distill train` and `r1eval distill filter` as dataclasses: every field is a flag and
a `--config` YAML key (`SFT_OPTIONS`, `FILTER_OPTIONS`; `sft_options` / `filter_options` resolve them from a
recipe, a config file or mapping, and overrides, as `r1eval loop` does for its stages)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1eval.distill.filter import FilterConfig
from r1eval.distill.train import DistillPreset
from r1eval.errors import UsageError
from r1eval.recipes import option, resolve_options
from r1eval.training_options import GateOptions, LaunchOptions

DEFAULT_SFT_PRESET = "tiny-cpu"


@dataclass(frozen=True)
class SFTInputs:
    """What `r1eval distill train` trains: student, data, output, LoRA or all weights."""

    student: str | None = option(None, "student model: HF dir, .gguf or hub id (default: embedded SmolLM2-135M)",
                                 show_default=False)
    data: Path | None = option(None, "a `distill filter` output dir or a messages JSONL (required unless --dry-run)",
                               show_default=False)
    output: Path | None = option(None, "output directory (final model in model/); rerunning the same command with "
                                       "it continues the run (required unless --dry-run)", show_default=False)
    lora: bool = option(False, "train LoRA adapters (peft) instead of all weights")


@dataclass(frozen=True)
class FilterInputs:
    """What `r1eval distill filter` reads and writes."""

    input: Path | None = option(None, "a run directory, its samples.jsonl, or JSONL rows with problem, answer, "
                                      "completion (required)", show_default=False)
    output: Path | None = option(None, "directory for kept/rejected/dataset/report (required)", show_default=False)


SFT_OPTIONS = (DistillPreset, SFTInputs, LaunchOptions, GateOptions)
FILTER_OPTIONS = (FilterConfig, FilterInputs)


def sft_options(config: str | Path | dict[str, Any] | None = None, overrides: dict[str, Any] | None = None, *,
                preset: str | None = None) -> tuple[DistillPreset, SFTInputs, LaunchOptions, GateOptions, str]:
    """`r1eval distill train`'s configuration from a recipe (`preset`, the config's `preset:` key, else tiny-cpu),
    a config (YAML path or mapping) and overrides; the last item is the recipe's name."""
    from r1eval.recipes import PRESET_KEY, read_mapping

    given = config if isinstance(config, dict) else read_mapping(config) if config is not None else {}
    name = str(preset or given.get(PRESET_KEY) or DEFAULT_SFT_PRESET)
    recipe, inputs, launch, gate = resolve_options("sft", SFT_OPTIONS, preset=name, config=config,
                                                   overrides=overrides)
    return recipe, inputs, launch, gate, name


def filter_options(config: str | Path | dict[str, Any] | None = None,
                   overrides: dict[str, Any] | None = None) -> tuple[FilterConfig, FilterInputs]:
    """`r1eval distill filter`'s thresholds and paths from a config (YAML/JSON path or mapping) and overrides."""
    cfg, paths = resolve_options("filter", FILTER_OPTIONS, config=config, overrides=overrides)
    cfg.validate()
    return cfg, paths


def require(values: dict[str, Any], command: str) -> None:
    """A UsageError naming the required options (flag spelling) that are missing."""
    missing = [f"--{k.replace('_', '-')}" for k, v in values.items() if v in (None, "")]
    if missing:
        raise UsageError(f"{command} needs {' and '.join(missing)}")
