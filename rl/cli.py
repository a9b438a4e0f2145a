"""`r1eval grpo` on the command line: flags generated from the option dataclasses (`rl.options.GRPO_OPTIONS`),
a recipe (`--preset NAME`) and a `--config` YAML beneath them."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from r1eval.errors import UsageError
from r1eval.recipes import add_option_flags, as_plain, flag_of, flag_values


def accelerate_help() -> str:
    """The shipped accelerate configs, for --help epilogs."""
    from rl.options import ACCELERATE_DIR

    names = ", ".join(sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")))
    return (f"accelerate configs (--accelerate-config NAME to plan; `accelerate launch --config_file "
            f"{ACCELERATE_DIR}/NAME.yaml` to run): {names}")


def add_recipe_flags(p: argparse.ArgumentParser, command: str, default_preset: str) -> None:
    """--preset, --config and --dry-run, the flags every training command has besides its options."""
    from r1eval.recipes import recipe_names

    p.add_argument("--preset", help=f"a shipped recipe: {' | '.join(recipe_names(command))} (default "
                                    f"{default_preset}, or the `preset:` of --config)")
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="recipe file: option names (as below, with underscores) -> values; `preset: NAME` starts "
                        "from a shipped recipe; flags override it")
    p.add_argument("--dry-run", action="store_true",
                   help="print the options, the batch plan and the full TRL config as one JSON object, then exit "
                        "(no model load)")


def add_grpo_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval grpo`."""
    from rl.options import GateOptions, GRPOInputs, LaunchOptions
    from rl.presets import GRPOPreset, presets_help

    p = sub.add_parser("grpo", help="GRPO training with R1's rule rewards (TRL GRPOTrainer)",
                       epilog=presets_help() + "\n" + accelerate_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_flags(p, "grpo", "tiny-cpu")
    add_option_flags(p, GRPOInputs, title="what to train")
    add_option_flags(p, GRPOPreset, title="recipe (GRPO hyper-parameters; defaults shown are R1-Zero's)",
                     skip=("name", "description"))
    add_option_flags(p, LaunchOptions, title="launch")
    add_option_flags(p, GateOptions, title="gate (harness evaluations during training)")


def command_line(command: str, args: argparse.Namespace, classes: tuple[type, ...]) -> str:
    """The command's arguments as given, without --dry-run (for the printed launch lines)."""
    words = command.split()
    if getattr(args, "preset", None):
        words += ["--preset", args.preset]
    if getattr(args, "config", None):
        words += ["--config", str(args.config)]
    for name, value in flag_values(args, classes).items():
        if isinstance(value, bool):
            words.append(flag_of(name) if value else "--no-" + flag_of(name)[2:])
        elif isinstance(value, list) and name.startswith("gate_bench"):
            for item in value:
                words += [flag_of(name), str(item)]
        elif value is not None:
            plain = as_plain(value)
            words += [flag_of(name), json.dumps(plain) if isinstance(plain, dict | list) else str(plain)]
    return " ".join(shlex.quote(w) for w in words)


def cmd_grpo(args: argparse.Namespace) -> int:
    from rl.options import GRPO_OPTIONS, grpo_options, grpo_plan, grpo_run
    from rl.training import is_main_process

    recipe, inputs, launch, gate = grpo_options(args.config, flag_values(args, GRPO_OPTIONS), preset=args.preset)
    if args.dry_run:
        plan = grpo_plan(recipe, inputs, launch, gate, command_line("grpo", args, GRPO_OPTIONS))
        if is_main_process():
            print(json.dumps(plan, indent=2, default=str))
        return 0
    missing = [flag for flag, value in (("--data", inputs.data), ("--output", inputs.output)) if not value]
    if missing:
        raise UsageError(f"r1eval grpo needs {' and '.join(missing)} (or --dry-run to only plan)")
    from rl.train import train_grpo

    final = train_grpo(grpo_run(recipe, inputs, launch, gate))
    if is_main_process():
        print(f"trained policy in {final}; per-step log in {Path(inputs.output) / 'steps.jsonl'}")
    return 0

