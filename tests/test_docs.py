"""The docs cannot go stale: every `r1eval` command shown in README.md and docs/*.md is exercised.

Each command in a fenced code block is parsed by the real argument parser (so a renamed verb or flag, or a
removed choice, fails here); commands that are cheap and need no model (`list`, `--dry-run` plans, `--help`)
are also run in-process and must exit 0. Words in capitals (`MODEL`, `RUN_DIR`) are placeholders and
`[--flag value]` marks an optional part; both are accepted by the parser as they stand or once the brackets go.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONTROL = {"|", "||", "&&", "&", ";", ">", ">>", "2>&1", "<"}
FENCE = re.compile(r"^```(\w*)\s*$")


def _code_lines(text: str) -> list[str]:
    """Lines of fenced blocks that are shell (no language, bash, sh, console), continuations joined."""
    lines: list[str] = []
    in_block, shell = False, False
    pending = ""
    for raw in text.splitlines():
        fence = FENCE.match(raw.strip())
        if fence:
            in_block = not in_block
            shell = in_block and fence.group(1) in ("", "bash", "sh", "shell", "console")
            pending = ""
            continue
        if not (in_block and shell):
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def _r1eval_argv(line: str) -> list[str] | None:
    """The arguments after `r1eval` (or `python -m r1eval` / `accelerate launch -m r1eval`), if any."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return None
    for i, tok in enumerate(tokens):
        if tok == "r1eval" and (i == 0 or tokens[i - 1] == "-m" or "=" in tokens[i - 1] or tokens[i - 1] in CONTROL):
            argv = []
            for t in tokens[i + 1:]:
                if t in CONTROL:
                    break
                t = t.strip("[]")
                if t and t != "...":  # "..." elides the rest of a command
                    argv.append(t)
            return argv
    return None


def shown_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOC_FILES:
        for line in _code_lines(path.read_text(encoding="utf-8")):
            argv = _r1eval_argv(line)
            if argv is not None:
                found.append((f"{path.relative_to(ROOT)}: {line.strip()}", argv))
    return found


COMMANDS = shown_commands()


def test_docs_show_commands():
    assert len(DOC_FILES) > 5, "docs/ pages are missing"
    assert len(COMMANDS) >= 20, COMMANDS


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[c[0][:90] for c in COMMANDS])
def test_shown_command_parses(where, argv):
    from r1eval.cli import build_parser
    from r1eval.errors import UsageError

    try:
        build_parser().parse_args(argv)
    except (SystemExit, UsageError) as exc:  # an unknown verb/flag or a bad choice
        pytest.fail(f"{where}: the parser refuses it ({exc})")


CHEAP = [(w, a) for w, a in COMMANDS if a[:1] == ["list"] or "--dry-run" in a or "--help" in a]


@pytest.mark.parametrize("where,argv", CHEAP, ids=[c[0][:90] for c in CHEAP])
def test_cheap_shown_command_runs(where, argv, capsys):
    from r1eval.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, None), f"{where}: exit {code}\n{out.err[-2000:]}"


def test_readme_is_short_and_starts_with_quickstart():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    quick = text.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(quick) == 2, quick
    assert "r1eval run" in quick[0] and "pytest" in quick[1]


def test_doc_links_resolve():
    for path in DOC_FILES:
        for target in re.findall(r"\]\(([^)#\s]+)\)", path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(ROOT)} links to missing {target}"
