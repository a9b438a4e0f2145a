"""The benchmark registry: name -> Bench. `r1eval list` prints it."""

from __future__ import annotations

from pathlib import Path

from r1eval.benches.base import Bench, LoadOptions
from r1eval.benches.code import code_benches
from r1eval.benches.codeforces import codeforces_benches
from r1eval.benches.gpqa import gpqa_benches
from r1eval.benches.humaneval_mul import PREFIX as HUMANEVAL_MUL_PREFIX
from r1eval.benches.humaneval_mul import HumanEvalMulBench, humaneval_mul_benches
from r1eval.benches.lmeval import PREFIX as LMEVAL_PREFIX
from r1eval.benches.lmeval import LMEvalBench
from r1eval.benches.math import MathBench, math_benches
from r1eval.benches.simpleqa import simpleqa_bench
from r1eval.errors import ConfigError, UsageError

__all__ = ["Bench", "LoadOptions", "REGISTRY", "get_bench", "register_bench"]


def _build_registry() -> dict[str, Bench]:
    benches: list[Bench] = [*math_benches(), *gpqa_benches(), *code_benches(), *codeforces_benches(), simpleqa_bench(),
                           *humaneval_mul_benches()]
    return {b.name: b for b in benches}


REGISTRY: dict[str, Bench] = _build_registry()


def register_bench(bench: Bench) -> Bench:
    """Add a bench to the registry under its name (`r1eval list`, `--bench NAME`); see docs/extending.md."""
    REGISTRY[bench.name] = bench
    return bench


def get_bench(name: str, lm_eval_include: Path | None = None) -> Bench:
    """A registered bench by name, an lm-eval task (`lm-eval:TASK`, your YAML tasks in `lm_eval_include`), or a
    math bench over a user JSONL path (problem/answer rows)."""
    if name.startswith(LMEVAL_PREFIX):
        return LMEvalBench.from_name(name, lm_eval_include)
    if lm_eval_include is not None:
        raise ConfigError("lm_eval_include", "only applies to lm-eval:TASK benches")
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith(HUMANEVAL_MUL_PREFIX + ":"):
        return HumanEvalMulBench.named(name)
    if name.endswith(".jsonl"):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"bench file not found: {name}")
        return MathBench(path.stem, f"user math file {name}", default_n=4, path=path)
    raise UsageError(f"unknown bench '{name}'; known: {', '.join(sorted(REGISTRY))}, lm-eval:TASK (an lm-eval "
                     "generative task), or a path to a .jsonl with problem/answer rows")
