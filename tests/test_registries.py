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


def test_backends_declare_their_capabilities() -> None:
    from r1eval.backends import REGISTRY as BACKENDS
    from r1eval.backends import backend_names
    from r1eval.models import ModelSpec

    assert backend_names() == ["auto", "transformers", "vllm", "openai"]
    assert [name for name, b in BACKENDS.items() if b.is_server] == ["openai"]
    model = ModelSpec("m", "dir", "/nonexistent")
    assert BACKENDS["transformers"].resolve_dtype(model, "auto", on_gpu=False) == "float32"
    assert BACKENDS["transformers"].resolve_dtype(model, "auto", on_gpu=True) == "bfloat16"
    assert BACKENDS["vllm"].resolve_dtype(model, "float16") == "float16"
    assert BACKENDS["openai"].resolve_dtype(model, "float16") is None  # the server decides
    assert BACKENDS["openai"].server_defaults({"standard_params_only": True}) == ["top_k", "min_p", "repetition_penalty"]
    assert BACKENDS["vllm"].accepted({"max_model_len": 512, "base_url": "http://x", "dtype": None}) == {
        "max_model_len": 512}


def test_no_backend_name_checks_outside_the_backends() -> None:
    pattern = re.compile(r"""backend\s*[!=]=\s*["'](openai|vllm|transformers)["']""")
    for path in [*(REPO / "r1eval").rglob("*.py"), *(REPO / "distill").rglob("*.py"), *(REPO / "rl").rglob("*.py")]:
        match = pattern.search(path.read_text(encoding="utf-8"))
        assert match is None, f"{path.relative_to(REPO)}: {match.group(0) if match else ''}"
