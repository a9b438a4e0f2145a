"""Argument types and flag groups that several verbs share (`r1eval/cli.py` and `distill/cli.py` import
them; this module imports nothing but the standard library and `r1eval.errors`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from r1eval.errors import UsageError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def json_object(text: str) -> dict:
    """argparse type: a JSON object (e.g. --chat-template-kwargs '{"enable_thinking": true}')."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"enable_thinking\": true}}', got {text!r}")
    return value


def add_prompt_options(p: argparse.ArgumentParser) -> None:
    """--system-prompt and --chat-template-kwargs (shared by `run` and `distill generate`)."""
    p.add_argument("--system-prompt", help="a system turn before every prompt (default: none of ours)")
    p.add_argument("--chat-template-kwargs", type=json_object, metavar="JSON",
                   help='extra chat-template variables, e.g. \'{"enable_thinking": true}\' (local backends render '
                        "them; vLLM servers get them as chat_template_kwargs)")


def add_launch_flags(parser: Any) -> None:
    """The flags `r1eval grpo` and `r1eval distill train` share for planning and bounding a run."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print the effective batch numbers and the full TRL config as JSON, then exit "
                             "(no model load)")
    parser.add_argument("--num-processes", type=positive_int,
                        help="plan for N processes (with --dry-run; a real run takes the launcher's count)")
    parser.add_argument("--max-minutes", type=float,
                        help="stop training after this many minutes, with a checkpoint (rerun to continue)")


def add_gate_flags(parser: Any, subject: str = "the policy") -> None:
    """The `--gate-*` training flags shared by `r1eval grpo` and `r1eval distill train`."""
    parser.add_argument("--gate-bench", action="append", default=[],
                        help=f"evaluate {subject} on this bench during training (repeatable)")
    parser.add_argument("--gate-every", type=positive_int, default=50, help="steps between gate evaluations (50)")
    parser.add_argument("--gate-n", type=positive_int, default=4, help="samples per problem in gate evaluations (4)")
    parser.add_argument("--gate-limit", type=positive_int, default=20, help="problems per gate bench (20)")
    parser.add_argument("--gate-max-tokens", type=positive_int, default=1024,
                        help="max new tokens in gate evaluations (1024)")
    parser.add_argument("--stop-on-regression", action="store_true",
                        help="stop when a gate bench is significantly worse than at the best step")



def require_data_and_output(args: Any, command: str) -> None:
    """--data and --output are required unless --dry-run (one-line UsageError)."""
    missing = [flag for flag, value in (("--data", args.data), ("--output", args.output)) if not value]
    if missing and not args.dry_run:
        raise UsageError(f"{command} needs {' and '.join(missing)} (or --dry-run to only plan)")
