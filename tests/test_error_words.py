"""Library errors name settings by their API field (`max_tokens`), never by a command-line flag; only the CLI
(`flag_words`) words them as the flags of the chosen command."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from r1eval.cli import build_parser, flag_words
from r1eval.errors import _OS_FIXES, BackendError, ConfigError, UsageError

REPO = Path(__file__).resolve().parent.parent
# the command line's own modules, which may spell flags
CLI_MODULES = {"r1eval/cli.py", "r1eval/cli_args.py", "r1eval/__main__.py", "r1eval/judge/cli.py", "distill/cli.py",
               "rl/cli.py"}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SHELL_COMMAND = re.compile(r"`[^`]* [^`]*`")  # a quoted command line (`pip install --no-deps ...`) may hold flags


def _error_strings(tree: ast.AST):
    """(line, text) of every string constant (f-string parts included) in a `raise` or an `...Error(...)` call."""
    seen: set[int] = set()  # a constant in `raise XError(...)` is inside both the raise and the call
    for node in ast.walk(tree):
        called = node.func if isinstance(node, ast.Call) else None
        name = getattr(called, "id", None) or getattr(called, "attr", "")
        if (isinstance(node, ast.Raise) and node.exc is not None) or name.endswith("Error"):
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and id(part) not in seen:
                    seen.add(id(part))
                    yield part.lineno, part.value


def flags_in_library_errors() -> list[str]:
    found = []
    for folder in ("r1eval", "distill", "rl"):
        for path in sorted((REPO / folder).rglob("*.py")):  # rglob does not follow the r1eval/distill, rl links
            rel = path.relative_to(REPO).as_posix()
            if rel in CLI_MODULES:
                continue
            for line, text in _error_strings(ast.parse(path.read_text(encoding="utf-8"))):
                found += [f"{rel}:{line}: {flag}" for flag in FLAG.findall(SHELL_COMMAND.sub("", text))]
    return found


def test_library_errors_name_fields_not_flags():
    assert flags_in_library_errors() == []
    assert not [fix for fix in _OS_FIXES.values() if FLAG.search(fix)]


def test_the_scan_sees_a_flag_in_a_multi_line_f_string():
    tree = ast.parse('raise BackendError(f"prompt + {n} tokens; "\n    "lower --max-tokens")\n'
                     'return UsageError("pass `pip install --no-deps x` or `model`")')
    texts = [SHELL_COMMAND.sub("", text) for _, text in _error_strings(tree)]
    assert [f for t in texts for f in FLAG.findall(t)] == ["--max-tokens"]


def _words(argv: list[str], exc: UsageError) -> str:
    parser = build_parser()
    return flag_words(parser, parser.parse_args(argv), exc)


def test_flag_words_turns_backquoted_fields_into_the_commands_flags():
    run = ["run", "--bench", "aime24"]
    assert _words(run, BackendError("prompt too long; lower `max_tokens`")) == "prompt too long; lower --max-tokens"
    assert _words(run, UsageError("pass a new `output` or `no_such_field`")) == "pass a new --output or no_such_field"
    assert _words(run, UsageError("run `pip install --no-deps x` first")) == "run `pip install --no-deps x` first"
    assert _words(run, ConfigError("top_p", "must be in (0, 1]; see `max_tokens`")) == \
        "--top-p must be in (0, 1]; see --max-tokens"
    # a field the chosen command has no flag for is printed bare
    assert _words(["report", "runs", "--out", "x"], UsageError("lower `max_tokens`")) == "lower max_tokens"
    assert str(BackendError("lower `max_tokens`")) == "lower `max_tokens`"  # Python users see the field
