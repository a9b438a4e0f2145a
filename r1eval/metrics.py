"""Metrics as pure functions of sample records: pass@1 with a bootstrap CI, unbiased pass@k, cons@n, pass@1 at
token budgets, length statistics, unclosed-reasoning and mixed-language rates."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    lowest sample_index. The winner is correct iff its representative was graded correct. Each distinct
    (representative, answer) pair is compared once: 64 samples repeating a few answers cost a few calls.
    """
    classes: list[list[Sample]] = []
    known: dict[tuple[str, str], bool] = {}

    def same(a: str, b: str) -> bool:
        if (a, b) not in known:
            known[(a, b)] = bool(equivalent(a, b))
        return known[(a, b)]

    for s in sorted(samples, key=lambda s: s.sample_index):
        if s.extracted_answer is None:
            continue
        for members in classes:
            if same(members[0].extracted_answer, s.extracted_answer):  # type: ignore[arg-type]
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


def token_budgets(max_tokens: int) -> list[int]:
    """Budgets for `pass@1_at_budget`: powers of two from 1024 up to max_tokens, plus max_tokens; below 4096
    max tokens, max/8, max/4, max/2 and max (rounded up), so a short run still has a curve."""
    if max_tokens < 4096:
        return sorted({-(-max_tokens // d) for d in (8, 4, 2, 1)})
    budgets, b = [], 1024
    while b < max_tokens:
        budgets.append(b)
        b *= 2
    return [*budgets, max_tokens]


def pass_at_1_at_budget(samples: Sequence[Sample], max_tokens: int) -> dict[str, float]:
    """pass@1 as if generation had stopped at each token budget b: a sample counts at b only if it is
    correct and its completion_tokens <= b; per problem mean over its samples, then mean over problems.
    Keys are the budgets as strings, ascending."""
    groups = group_by_problem(samples)
    return {str(b): float(np.mean([np.mean([s.correct and s.completion_tokens <= b for s in g])
                                   for g in groups.values()])) if groups else float("nan")
            for b in token_budgets(max_tokens)}


def length_stats(samples: Sequence[Sample]) -> dict[str, dict[str, float | int | None]]:
    """Completion tokens of correct and of incorrect samples: count, median, p90 (linear interpolation,
    numpy's default) and mean; None where a group is empty."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name, want in (("correct", True), ("incorrect", False)):
        tokens = np.asarray([s.completion_tokens for s in samples if bool(s.correct) == want], dtype=float)
        if tokens.size:
            out[name] = {"count": int(tokens.size), "median": float(np.median(tokens)),
                         "p90": float(np.quantile(tokens, 0.9)), "mean": float(tokens.mean())}
        else:
            out[name] = {"count": 0, "median": None, "p90": None, "mean": None}
    return out


def unclosed_think_rate(samples: Sequence[Sample]) -> float:
    """Share of samples that opened `<think>` and never closed it (they have no answer)."""
    from r1eval.reasoning import answer_region

    return sum(answer_region(s.completion) is None for s in samples) / len(samples) if samples else 0.0


def mixed_language_rate(samples: Sequence[Sample], language: str = "en") -> float:
    """Share of samples whose reasoning mixes languages: `r1eval.grading.language.mixed_language` (the
    distillation filter's check) on the chain of thought (`reasoning_text`, the RL language reward's part)."""
    from r1eval.grading.language import mixed_language
    from r1eval.reasoning import reasoning_text

    return (sum(mixed_language(reasoning_text(s.completion), language) for s in samples) / len(samples)
            if samples else 0.0)


def summarize(samples: Iterable[Sample], *, bench: str, model: str, n: int,
              equivalent: Callable[[str, str], bool] | None, problem_ids: Sequence[str] | None = None,
              max_tokens: int | None = None,
              text_flags: Mapping[tuple[str, int], tuple[bool, bool]] | None = None) -> dict[str, Any]:
    """summary.json from sample records: pass@1 (+95% CI over problems), pass@k, cons@n, lengths; with
    `problem_ids` (the problems requested) also `complete` and `missing_samples`, problems in that order
    (so the summary never depends on the order samples finished in), with `max_tokens` the
    `pass@1_at_budget` curve. `text_flags` ((unclosed, mixed language) per (problem id, sample index),
    `r1eval.sampleset`) stands in for the completions, which may then be empty."""
    groups = group_by_problem(samples)
    if problem_ids is not None:
        order = {pid: i for i, pid in enumerate(dict.fromkeys(problem_ids))}
        groups = dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))))
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
    }
    if problem_ids is not None:
        present = {(s.problem_id, s.sample_index) for s in all_samples}
        missing = sum((pid, i) not in present for pid in dict.fromkeys(problem_ids) for i in range(n))
        summary["complete"] = missing == 0 and bool(problem_ids)
        summary["missing_samples"] = missing
    summary.update({
        "pass@1": float(np.mean(p1)) if p1 else None,
        "pass@1_ci95": list(bootstrap_ci(p1)) if p1 else None,
        "pass@k": {str(k): float(np.mean([pass_at_k(r["n"], r["correct"], k) for r in per_problem]))
                   for k in ks_up_to(min_n)},
    })
    if not p1:
        summary["null_reason"] = "no finished samples: pass@1 and the rates are null, not 0"
    uncounted = sum(s.completion_tokens is None for s in all_samples)
    # token statistics only when every sample has its count: a subset would bias them, a 0 would lie
    counted = uncounted == 0 and bool(all_samples)
    summary["token_counts"] = "engine" if counted else "missing" if all_samples else None
    if uncounted:
        summary["token_counts_missing"] = uncounted
    if max_tokens is not None:
        summary["pass@1_at_budget"] = pass_at_1_at_budget(all_samples, max_tokens) if counted else None
    if equivalent is not None:
        summary[f"cons@{n}"] = float(np.mean([r["cons"] for r in per_problem])) if per_problem else None
    summary["mean_completion_tokens"] = (float(np.mean([s.completion_tokens for s in all_samples]))
                                         if counted else None)
    summary["length_stats"] = length_stats(all_samples) if counted else None
    summary["finish_reasons"] = dict(sorted(Counter(s.finish_reason for s in all_samples).items()))

    def rate(flag: Callable[[Sample], bool]) -> float | None:
        return sum(flag(s) for s in all_samples) / len(all_samples) if all_samples else None

    summary["truncation_rate"] = rate(lambda s: s.finish_reason == "length")
    summary["no_answer_rate"] = rate(lambda s: s.extracted_answer is None)
    if text_flags is not None:
        flags = [text_flags[(s.problem_id, s.sample_index)] for s in all_samples]
        summary["unclosed_think_rate"] = sum(f[0] for f in flags) / len(flags) if flags else None
        summary["mixed_language_rate"] = sum(f[1] for f in flags) / len(flags) if flags else None
    else:
        summary["unclosed_think_rate"] = unclosed_think_rate(all_samples) if all_samples else None
        summary["mixed_language_rate"] = mixed_language_rate(all_samples) if all_samples else None
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
