"""A Codeforces rating from per-problem solve rates: maximum likelihood under the Elo model.

Codeforces gives each problem a difficulty rating r: a contestant rated r solves it with probability
1/2. Under the Elo model a solver of rating R solves a problem rated r with probability

    p(R, r) = 1 / (1 + 10^((r - R) / 400))

Given problems i with ratings r_i and observed solve rates s_i (a 0/1 outcome, a fraction, or passes/n
from n samples), the log-likelihood of R is

    l(R) = sum_i w_i * [ s_i log p(R, r_i) + (1 - s_i) log(1 - p(R, r_i)) ]

with weight w_i = n_i when the row gives `passes` and `n` (a binomial count of n Bernoulli trials) and
w_i = 1 when it gives a `solved` rate (one trial whose outcome may be fractional). Its derivative

    dl/dR = (ln 10 / 400) * sum_i w_i * (s_i - p(R, r_i))

decreases strictly in R, so the maximum-likelihood rating is its unique root, found by bisection. The
root is searched on [RATING_MIN, RATING_MAX] = [0, 4000] (the span of real Codeforces ratings): when
every problem is solved (or none is) the likelihood keeps growing towards +inf (-inf) and the estimate
is clamped to the end of the range, which the output says (`clamped`, `note`). The estimate never
decreases when any solve rate increases.

95% interval, reported as `rating_ci95`:
- bootstrap over problems (default when there are >= MIN_BOOTSTRAP_PROBLEMS problems and the data are not
  degenerate): resample problems with replacement, re-fit, take the 2.5% / 97.5% percentiles. It holds
  even when problems deviate from the Elo curve (a model's skill is uneven across topics), which the
  model-based interval below ignores.
- Fisher information (fewer problems): R +- 1.96 / sqrt(I(R)), I(R) = (ln 10 / 400)^2 sum_i w_i p_i (1 - p_i).
  Always reported too, as `rating_ci95_fisher`.
- all solved / none solved: the exact one-sided bound. With everything solved, R_lo is the rating at which
  solving everything has probability 2.5% (prod_i p(R_lo, r_i)^w_i = 0.025), and the interval is
  [R_lo, RATING_MAX]; mirrored when nothing is solved.

With a rating distribution (the ratings of human contestants) the output adds the percentile: the
share of contestants rated below R (ties count half), as R1's "96.3 percentile" reports it.

See README.md, section "Codeforces rating estimation" for how this relates to CodeElo's contest-rank method and R1's numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from r1eval.errors import UsageError

ELO_SCALE = 400.0
RATING_MIN, RATING_MAX = 0.0, 4000.0
BISECTION_STEPS = 48  # 4000 / 2^48: far below a rating point
BOOTSTRAP_ITERS = 2000
MIN_BOOTSTRAP_PROBLEMS = 10
Z95 = 1.959963984540054
K = math.log(10) / ELO_SCALE  # dp/dR = K p (1 - p)


@dataclass
class ProblemResult:
    """One rated problem: its difficulty rating, the solve rate in [0, 1], and the likelihood weight."""

    rating: float
    solved: float
    weight: float = 1.0  # n samples for passes/n rows, 1 for a solve rate


# ---------------------------------------------------------------------------------------------------
# the model


def solve_probability(rating: Any, problem_rating: Any) -> Any:
    """P(solve) = 1 / (1 + 10^((r_problem - R) / 400)), elementwise."""
    return 1.0 / (1.0 + np.power(10.0, (np.asarray(problem_rating) - np.asarray(rating)) / ELO_SCALE))


def fit_ratings(problem_ratings: np.ndarray, solved: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Maximum-likelihood R for each row of (B, m) arrays, by bisection on the score on [RATING_MIN,
    RATING_MAX]. The score sum_i w_i (s_i - p(R, r_i)) decreases in R, so the root is unique; if the score is
    still positive at RATING_MAX (everything solved) the result is RATING_MAX, and likewise RATING_MIN."""
    lo = np.full(solved.shape[0], RATING_MIN)
    hi = np.full(solved.shape[0], RATING_MAX)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        score = (weights * (solved - solve_probability(mid[:, None], problem_ratings))).sum(axis=1)
        lo = np.where(score > 0, mid, lo)
        hi = np.where(score > 0, hi, mid)
    return (lo + hi) / 2


def fisher_information(rating: float, problem_ratings: np.ndarray, weights: np.ndarray) -> float:
    """I(R) = K^2 sum_i w_i p_i (1 - p_i): the curvature of the log-likelihood at R."""
    p = solve_probability(rating, problem_ratings)
    return float(K * K * np.sum(weights * p * (1 - p)))


def fisher_interval(rating: float, problem_ratings: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """R +- 1.96 / sqrt(I(R)), clipped to the rating range."""
    info = fisher_information(rating, problem_ratings, weights)
    half = Z95 / math.sqrt(info) if info > 0 else RATING_MAX - RATING_MIN
    return (max(RATING_MIN, rating - half), min(RATING_MAX, rating + half))


def bootstrap_interval(problem_ratings: np.ndarray, solved: np.ndarray, weights: np.ndarray,
                       iters: int = BOOTSTRAP_ITERS, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap over problems: resample problems with replacement and re-fit each resample."""
    rng = np.random.default_rng(seed)
    m = problem_ratings.size
    fits = []
    chunk = max(1, 2_000_000 // m)  # bound the (resamples x problems) arrays to ~16 MB each
    for start in range(0, iters, chunk):
        idx = rng.integers(0, m, size=(min(chunk, iters - start), m))
        fits.append(fit_ratings(problem_ratings[idx], solved[idx], weights[idx]))
    lo, hi = np.quantile(np.concatenate(fits), [0.025, 0.975])
    return (float(lo), float(hi))


def one_sided_bound(problem_ratings: np.ndarray, weights: np.ndarray, all_solved: bool) -> float:
    """All solved: the R at which solving everything has probability 2.5% (a 97.5% lower bound); none solved:
    the R at which solving nothing has probability 2.5% (an upper bound). Clipped to the rating range."""
    target = math.log(0.025)

    def log_prob(rating: float) -> float:
        p = solve_probability(rating, problem_ratings)
        return float(np.sum(weights * np.log(p if all_solved else 1 - p)))

    lo, hi = RATING_MIN, RATING_MAX
    for _ in range(BISECTION_STEPS):  # log_prob increases in R when all solved, decreases when none
        mid = (lo + hi) / 2
        if (log_prob(mid) < target) == all_solved:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ---------------------------------------------------------------------------------------------------
# the estimate


def percentile(rating: float, distribution: np.ndarray, counts: np.ndarray) -> float:
    """Share (in %) of contestants rated below `rating`, ties counting half."""
    below = counts[distribution < rating].sum() + 0.5 * counts[distribution == rating].sum()
    return float(100.0 * below / counts.sum())


def estimate_rating(results: list[ProblemResult], distribution: tuple[np.ndarray, np.ndarray] | None = None,
                    seed: int = 0, bootstrap_iters: int = BOOTSTRAP_ITERS) -> dict[str, Any]:
    """The maximum-likelihood rating, its 95% interval (and how it was computed), and the percentile."""
    if not results:
        raise UsageError("no rated problems to estimate a rating from")
    ratings = np.array([r.rating for r in results], dtype=float)
    solved = np.array([r.solved for r in results], dtype=float)
    weights = np.array([r.weight for r in results], dtype=float)
    rating = float(fit_ratings(ratings, solved[None, :], weights[None, :])[0])
    fisher = fisher_interval(rating, ratings, weights)
    out: dict[str, Any] = {"num_problems": len(results),
                           "mean_solve_rate": float(np.sum(weights * solved) / np.sum(weights)),
                           "rating_range": [RATING_MIN, RATING_MAX]}
    all_solved, none_solved = bool(np.all(solved >= 1.0)), bool(np.all(solved <= 0.0))
    if all_solved or none_solved:
        bound = one_sided_bound(ratings, weights, all_solved)
        interval = (bound, RATING_MAX) if all_solved else (RATING_MIN, bound)
        out["ci_method"] = "exact one-sided bound: the rating at which this outcome has probability 2.5%"
        out["clamped"] = "upper" if all_solved else "lower"
        out["note"] = (f"every problem {'solved' if all_solved else 'unsolved'}: the likelihood has no maximum, "
                       f"so the rating is clamped to {RATING_MAX if all_solved else RATING_MIN:.0f}; the data only "
                       f"show it is {'above' if all_solved else 'below'} {bound:.0f} (95%)")
    elif len(results) >= MIN_BOOTSTRAP_PROBLEMS:
        interval = bootstrap_interval(ratings, solved, weights, bootstrap_iters, seed)
        out["ci_method"] = f"percentile bootstrap over problems ({bootstrap_iters} resamples, seed {seed})"
    else:
        interval = fisher
        out["ci_method"] = (f"Fisher information (fewer than {MIN_BOOTSTRAP_PROBLEMS} problems, too few to "
                            "bootstrap)")
    if "clamped" not in out and min(rating - RATING_MIN, RATING_MAX - rating) < 1e-6:
        out["clamped"] = "lower" if rating < (RATING_MIN + RATING_MAX) / 2 else "upper"
        out["note"] = (f"the maximum-likelihood rating lies outside [{RATING_MIN:.0f}, {RATING_MAX:.0f}] "
                       "and is clamped to the range")
    out = {"rating": round(rating, 1), "rating_ci95": [round(interval[0], 1), round(interval[1], 1)],
           **out, "rating_ci95_fisher": [round(fisher[0], 1), round(fisher[1], 1)]}
    if distribution is not None:
        values, counts = distribution
        out["percentile"] = round(percentile(rating, values, counts), 2)
        out["percentile_ci95"] = [round(percentile(x, values, counts), 2) for x in interval]
    return out


# ---------------------------------------------------------------------------------------------------
# input files


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def parse_result(row: dict[str, Any], where: str) -> ProblemResult:
    """One `{"rating", "solved"}` or `{"rating", "passes", "n"}` row; UsageError naming what is wrong."""
    rating = _number(row.get("rating"))
    if rating is None:
        raise UsageError(f"{where}: 'rating' must be a number (the problem's Codeforces rating), "
                         f"got {row.get('rating')!r}")
    if "solved" in row:
        solved = _number(row["solved"])
        if solved is None or not 0.0 <= solved <= 1.0:
            raise UsageError(f"{where}: 'solved' must be a number in [0, 1], got {row['solved']!r}")
        return ProblemResult(rating, solved, 1.0)
    if "passes" in row and "n" in row:
        passes, n = _number(row["passes"]), _number(row["n"])
        if n is None or n < 1 or n != int(n):
            raise UsageError(f"{where}: 'n' must be a positive integer, got {row['n']!r}")
        if passes is None or passes != int(passes) or not 0 <= passes <= n:
            raise UsageError(f"{where}: 'passes' must be an integer in [0, n={int(n)}], got {row['passes']!r}")
        return ProblemResult(rating, passes / n, n)
    raise UsageError(f"{where}: needs 'solved' (a rate in [0, 1]) or 'passes' and 'n'")


def read_results(path: Path) -> list[ProblemResult]:
    """Rows of a JSONL file (or a JSON list) of per-problem results."""
    from r1eval.records import read_jsonl

    rows = _read_rows(path, read_jsonl)
    if not rows:
        raise UsageError(f"{path} has no rows; expected JSONL rows like {{\"rating\": 1600, \"solved\": 0.5}}")
    return [parse_result(row, f"{path}: row {i}") for i, row in enumerate(rows, 1)]


def _read_rows(path: Path, read_jsonl: Any) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"file not found: {path}")
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc.msg})") from None
        if not all(isinstance(r, dict) for r in rows):
            raise UsageError(f"{path}: expected a list of objects")
        return rows
    return read_jsonl(path)


def read_distribution(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Contestant ratings, in any of the documented forms: a JSON list (of numbers, or of `rating`/`count`
    objects), JSONL rows `{"rating": r, "count": c}` (count optional, default 1), or one number per line
    (a header line is skipped; of a CSV line only the first column is read). Returns (ratings, counts)."""
    if not path.is_file():
        raise UsageError(f"rating distribution file not found: {path}")
    text = path.read_text(encoding="utf-8").strip()
    items: list[Any] = []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc.msg})") from None
        if not isinstance(items, list):
            raise UsageError(f"{path}: expected a JSON list of ratings")
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):  # a JSONL row: commas belong to the JSON, never split it
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{lineno}: not a valid JSON row ({exc.msg})") from None
                continue
            first = line.split(",")[0].strip()
            try:
                items.append(float(first))
            except ValueError:
                if lineno == 1:
                    continue  # a header
                raise UsageError(f"{path}:{lineno}: expected a rating number or a JSON row, got {first!r}") from None
    values: list[float] = []
    counts: list[float] = []
    for i, item in enumerate(items, 1):
        rating, count = (item.get("rating"), item.get("count", 1)) if isinstance(item, dict) else (item, 1)
        rating, count = _number(rating), _number(count)
        if rating is None or count is None or count < 0:
            raise UsageError(f"{path}: entry {i} is not a rating (with an optional non-negative count): {item!r}")
        values.append(rating)
        counts.append(count)
    if not values or sum(counts) <= 0:
        raise UsageError(f"{path} holds no contestant ratings")
    return np.array(values), np.array(counts)
