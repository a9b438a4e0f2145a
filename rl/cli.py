"""`r1eval grpo` on the command line: flags generated from the option dataclasses (`rl.options.GRPO_OPTIONS`),
a recipe (`--preset NAME`) and a `--config` YAML beneath them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r1eval.errors import UsageError
from r1eval.recipes import accelerate_help, add_option_flags, add_recipe_flags, command_line, flag_values


def add_grpo_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval grpo`."""
    from r1eval.rl.options import GRPOInputs
    from r1eval.rl.presets import GRPOPreset, presets_help
    from r1eval.training_options import GateOptions, LaunchOptions

    p = sub.add_parser("grpo", help="GRPO training with R1's rule rewards (TRL GRPOTrainer)",
                       epilog=presets_help() + "\n" + accelerate_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_flags(p, "grpo", "tiny-cpu")
    add_option_flags(p, GRPOInputs, title="what to train")
    add_option_flags(p, GRPOPreset, title="recipe (GRPO hyper-parameters; defaults shown are R1-Zero's)",
                     skip=("name", "description"))
    add_option_flags(p, LaunchOptions, title="launch")
    add_option_flags(p, GateOptions, title="gate (harness evaluations during training)")


def cmd_grpo(args: argparse.Namespace) -> int:
    from r1eval.rl.options import GRPO_OPTIONS, grpo_options, grpo_plan, grpo_run
    from r1eval.training import is_main_process

    recipe, inputs, launch, gate = grpo_options(args.config, flag_values(args, GRPO_OPTIONS), preset=args.preset)
    if args.dry_run:
        plan = grpo_plan(recipe, inputs, launch, gate, command_line("grpo", args, GRPO_OPTIONS))
        if is_main_process():
            print(json.dumps(plan, indent=2, default=str))
        return 0
    missing = [flag for flag, value in (("--data", inputs.data), ("--output", inputs.output)) if not value]
    if missing:
        raise UsageError(f"r1eval grpo needs {' and '.join(missing)} (or --dry-run to only plan)")
    from r1eval.rl.train import train_grpo

    final = train_grpo(grpo_run(recipe, inputs, launch, gate))
    if is_main_process():
        print(f"trained policy in {final}; per-step log in {Path(inputs.output) / 'steps.jsonl'}")
    return 0

