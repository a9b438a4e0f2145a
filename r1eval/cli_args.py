"""Argument types and flag groups that several verbs share (`r1eval/cli.py` and `distill/cli.py` import
them), and `flag_words`, which words an error as the command line says it; this module imports nothing but the
standard library and `r1eval.errors`."""

from __future__ import annotations

import argparse
import json
import re

from r1eval.errors import ConfigError, UsageError


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


def flag_words(parser: argparse.ArgumentParser, args: argparse.Namespace | None, exc: UsageError) -> str:
    """The error as the user's command line says it: a ConfigError's field, and every `name` in backquotes, becomes
    the flag that sets it in the chosen (sub)command (`top_p` -> `--top-p`); a name no flag sets keeps its name."""
    if args is None:
        return _unquote(str(exc), {})
    options: dict[str, str] = {}
    chain = [parser]
    while chain:
        current = chain.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(args, action.dest, None)
                if chosen in action.choices:
                    chain.append(action.choices[chosen])
            elif action.option_strings:
                options.setdefault(action.dest, max(action.option_strings, key=len))
    if isinstance(exc, ConfigError):
        return f"{options.get(exc.field, exc.field)} {_unquote(exc.message, options)}"
    return _unquote(str(exc), options)


def _unquote(text: str, options: dict[str, str]) -> str:
    """`name` -> its flag in `options`, or the bare name; backquoted commands (`pip install ...`) stay as they are."""
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: options.get(m[1], m[1]), text)
