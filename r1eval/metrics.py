"""Metrics as pure functions of sample records: pass@1 with a bootstrap CI, unbiased pass@k, cons@n."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from r1eval.records import Sample

BOOTSTRAP_ITERS = 10_000


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_up_to(n: int) -> list[int]:
    """k = 1, 2, 4, ... <= n."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def bootstrap_ci(values: Sequence[float], iters: int = BOOTSTRAP_ITERS, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling the values (one per problem) with replacement."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(iters, arr.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def majority_vote(samples: Sequence[Sample], equivalent: Callable[[str, str], bool]) -> bool:
    """cons@n for one problem: group extracted answers into equivalence classes, vote, return whether the
    winning class is correct.

    Samples without an extracted answer do not vote. Classes are built in sample_index order, each answer
    joining the first class whose representative (first member) it is equivalent to. Ties between
    classes of equal size go to the class formed first, i.e. the one whose earliest member has the
    lowest sample_index. The winner is correct iff its representative was graded correct.
    """
    classes: list[list[Sample]] = []
    for s in sorted(samples, key=lambda s: s.sample_index):
        if s.extracted_answer is None:
            continue
        for members in classes:
            if equivalent(members[0].extracted_answer, s.extracted_answer):  # type: ignore[arg-type]
                members.append(s)
                break
        else:
            classes.append([s])
    if not classes:
        return False
    winner = max(classes, key=len)  # max() keeps the first of equal-size classes
    return bool(winner[0].correct)


def group_by_problem(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    """Samples grouped by problem id, each group sorted by sample index."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[s.problem_id].append(s)
    return {pid: sorted(g, key=lambda s: s.sample_index) for pid, g in groups.items()}


def summarize(samples: Iterable[Sample], *, bench: str, model: str, n: int,
              equivalent: Callable[[str, str], bool] | None) -> dict[str, Any]:
    """summary.json from sample records: pass@1 (+95% CI over problems), pass@k, cons@n, lengths."""
    groups = group_by_problem(samples)
    per_problem = []
    for pid, group in groups.items():
        c = sum(s.correct for s in group)
        row: dict[str, Any] = {"problem_id": pid, "n": len(group), "correct": c, "pass@1": c / len(group)}
        if equivalent is not None:
            row["cons"] = majority_vote(group, equivalent)
        per_problem.append(row)
    all_samples = [s for g in groups.values() for s in g]
    p1 = [r["pass@1"] for r in per_problem]
    min_n = min((r["n"] for r in per_problem), default=0)
    summary: dict[str, Any] = {
        "bench": bench,
        "model": model,
        "n_samples": n,
        "num_problems": len(per_problem),
        "num_samples": len(all_samples),
        "pass@1": float(np.mean(p1)) if p1 else float("nan"),
        "pass@1_ci95": list(bootstrap_ci(p1)),
        "pass@k": {str(k): float(np.mean([pass_at_k(r["n"], r["correct"], k) for r in per_problem]))
                   for k in ks_up_to(min_n)},
    }
    if equivalent is not None:
        summary[f"cons@{n}"] = float(np.mean([r["cons"] for r in per_problem])) if per_problem else float("nan")
    tokens = [s.completion_tokens for s in all_samples]
    summary["mean_completion_tokens"] = float(np.mean(tokens)) if tokens else 0.0
    summary["truncation_rate"] = (sum(s.finish_reason == "length" for s in all_samples) / len(all_samples)
                                  if all_samples else 0.0)
    summary["no_answer_rate"] = (sum(s.extracted_answer is None for s in all_samples) / len(all_samples)
                                 if all_samples else 0.0)
    summary["per_problem"] = per_problem
    return summary


@dataclass
class PairedComparison:
    """Candidate minus baseline on the same problems, with bootstrap CI and a permutation p-value."""

    num_problems: int
    baseline: float  # mean of the baseline's per-problem values
    candidate: float
    diff: float  # candidate - baseline
    ci: tuple[float, float]  # two-sided (1 - alpha) percentile bootstrap CI of diff
    lower_bound: float  # one-sided (1 - alpha) bootstrap lower bound of diff
    p_value: float  # one-sided sign-flip permutation p-value of H0: diff <= -margin
    margin: float
    alpha: float


def paired_test(baseline: Sequence[float], candidate: Sequence[float], *, alpha: float = 0.05,
                margin: float = 0.0, iters: int = BOOTSTRAP_ITERS, seed: int = 0) -> PairedComparison:
    """Paired comparison of two runs on their shared problems (value i of each list is problem i).

    The CI resamples problems with replacement (percentile bootstrap of the mean per-problem difference);
    the p-value flips the sign of each problem's shifted difference (d_i + margin) at random, a paired
    permutation test of H0: mean difference <= -margin against H1: > -margin. margin=0 tests "better".
    """
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if b.shape != c.shape or b.size == 0:
        raise ValueError(f"need two equally long, non-empty value lists (got {b.size} and {c.size})")
    d = c - b
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(iters, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    lower = float(np.quantile(means, alpha))
    shifted = d + margin
    observed = shifted.mean()
    signs = rng.choice([-1.0, 1.0], size=(iters, d.size))
    null = (signs * np.abs(shifted)).mean(axis=1)
    # +1 smoothing keeps the p-value valid (never 0) for a finite number of permutations
    p_value = float((np.sum(null >= observed - 1e-12) + 1) / (iters + 1))
    return PairedComparison(int(d.size), float(b.mean()), float(c.mean()), float(d.mean()), (float(lo), float(hi)),
                            lower, p_value, margin, alpha)
