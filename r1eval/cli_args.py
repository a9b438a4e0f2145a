"""Argument types and flag groups that several verbs share (`r1eval/cli.py` and `distill/cli.py` import
them; this module imports nothing but the standard library and `r1eval.errors`)."""

from __future__ import annotations

import argparse
import json


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
