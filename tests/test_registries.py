"""Benches declare what they support; code that needs to know asks the bench, never its name or kind."""

from __future__ import annotations

import re
from pathlib import Path

from r1eval.benches import REGISTRY, get_bench

REPO = Path(__file__).resolve().parent.parent


def test_registered_benches_declare_their_capabilities() -> None:
    table = {name: (b.grader_family, b.has_gold, b.votes, b.needs_sandbox, b.needs_judge)
             for name, b in REGISTRY.items()}
    assert table["aime24"] == ("math", True, True, False, False)
    assert table["gpqa_diamond"] == ("mcq", True, True, False, False)
    for name in ("humaneval", "livecodebench", "codeforces"):
        assert table[name] == ("code", False, False, True, False), name
    assert table["simpleqa"] == ("judge", True, True, False, True)
    assert get_bench("lm-eval:gsm8k").grader_family == "lm-eval"


def test_no_kind_string_checks_in_the_code_that_asks_benches() -> None:
    """runner, audit, the distillation filter and the RL rewards/training ask capabilities."""
    pattern = re.compile(r"""kind\s*[!=]=\s*["'](code|mcq|math|qa)["']|["'](code|mcq)["']\s*[!=]=""")
    for rel in ("r1eval/runner.py", "r1eval/audit.py", "distill/filter.py", "distill/cli.py", "rl/rewards.py",
                "rl/train.py", "r1eval/judge/cli.py"):
        source = (REPO / rel).read_text(encoding="utf-8")
        assert not pattern.search(source), f"{rel}: {pattern.search(source).group(0)}"
