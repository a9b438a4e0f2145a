"""Rating estimation: recovery of known ratings, monotonicity, degenerate inputs, the `elo` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from r1eval.cli import main
from r1eval.elo import (
    RATING_MAX,
    RATING_MIN,
    ProblemResult,
    estimate_rating,
    percentile,
    read_distribution,
    solve_probability,
)


def simulate(true_rating: float, num_problems: int, n: int, seed: int) -> list[ProblemResult]:
    """A solver of known rating on problems rated 800-3500, n Bernoulli attempts each."""
    rng = np.random.default_rng(seed)
    ratings = rng.integers(8, 36, size=num_problems) * 100.0
    passes = rng.binomial(n, solve_probability(true_rating, ratings))
    return [ProblemResult(r, p / n, n) for r, p in zip(ratings, passes, strict=True)]


@pytest.mark.parametrize("true_rating", [1100, 1700, 2029, 2600])
def test_recovers_known_rating_within_ci(true_rating: float) -> None:
    out = estimate_rating(simulate(true_rating, 300, 4, seed=true_rating), bootstrap_iters=500)
    lo, hi = out["rating_ci95"]
    assert lo <= true_rating <= hi
    assert abs(out["rating"] - true_rating) < 100 and hi - lo < 200


def test_ci_coverage_near_nominal() -> None:
    """Over 40 simulated solvers the 95% interval should contain the truth about 95% of the time."""
    rng = np.random.default_rng(7)
    hits = 0
    for k in range(40):
        true = float(rng.uniform(1000, 2800))
        out = estimate_rating(simulate(true, 200, 1, seed=k), bootstrap_iters=300, seed=k)
        hits += out["rating_ci95"][0] <= true <= out["rating_ci95"][1]
    assert hits >= 34  # P(<34 | coverage .95) ~ 0.5%


def test_fractional_solve_rates_match_binomial_point_estimate() -> None:
    rows = simulate(1800, 50, 8, seed=1)
    as_rates = [ProblemResult(r.rating, r.solved, 1.0) for r in rows]
    assert estimate_rating(rows)["rating"] == pytest.approx(estimate_rating(as_rates)["rating"], abs=0.2)


def test_monotonic_in_solve_rate() -> None:
    base = [ProblemResult(float(r), 0.5) for r in range(1000, 2600, 100)]
    previous = -1.0
    for rate in np.linspace(0.0, 1.0, 21):
        rows = [*base[:-1], ProblemResult(base[-1].rating, float(rate))]
        rating = estimate_rating(rows, bootstrap_iters=50)["rating"]
        assert rating >= previous
        previous = rating
    ratings = [estimate_rating([ProblemResult(1500.0, s)])["rating"] for s in np.linspace(0, 1, 11)]
    assert ratings == sorted(ratings) and ratings[0] == RATING_MIN and ratings[-1] == RATING_MAX


def test_one_problem_is_bounded_and_exact() -> None:
    out = estimate_rating([ProblemResult(1500.0, 0.5)])
    assert out["rating"] == 1500.0 and "Fisher" in out["ci_method"]
    lo, hi = out["rating_ci95"]
    assert RATING_MIN <= lo < 1500 < hi <= RATING_MAX
    # p = 0.9 at one problem rated 1500: R = 1500 + 400 log10(9)
    assert estimate_rating([ProblemResult(1500.0, 0.9)])["rating"] == pytest.approx(1500 + 400 * np.log10(9), abs=0.1)


@pytest.mark.parametrize("solved, clamped", [(1.0, "upper"), (0.0, "lower")])
def test_degenerate_inputs_are_bounded(solved: float, clamped: str) -> None:
    for rows in ([ProblemResult(1500.0, solved)], [ProblemResult(float(r), solved) for r in range(800, 2000, 100)]):
        out = estimate_rating(rows)
        assert out["clamped"] == clamped and "note" in out
        values = [out["rating"], *out["rating_ci95"]]
        assert all(np.isfinite(v) and RATING_MIN <= v <= RATING_MAX for v in values)
        lo, hi = out["rating_ci95"]
        assert (lo > RATING_MIN and hi == RATING_MAX) if solved else (lo == RATING_MIN and hi < RATING_MAX)


def test_more_easy_solves_raise_the_one_sided_bound() -> None:
    few = estimate_rating([ProblemResult(1500.0, 1.0, 1)])["rating_ci95"][0]
    many = estimate_rating([ProblemResult(1500.0, 1.0, 20)])["rating_ci95"][0]
    assert many > few


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_elo_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = simulate(2000, 120, 4, seed=3)
    inp = _write(tmp_path / "in.jsonl", "".join(
        json.dumps({"rating": int(r.rating), "passes": round(r.solved * 4), "n": 4}) + "\n" for r in rows[:60])
        + "".join(json.dumps({"rating": int(r.rating), "solved": r.solved}) + "\n" for r in rows[60:]))
    dist = _write(tmp_path / "dist.txt", "rating\n" + "\n".join(str(x) for x in range(0, 4000, 10)) + "\n")
    assert main(["elo", "--input", str(inp), "--distribution", str(dist)]) == 0
    out = json.loads(capsys.readouterr().out)
    lo, hi = out["rating_ci95"]
    assert lo <= out["rating"] <= hi and abs(out["rating"] - 2000) < 250
    assert out["percentile"] == pytest.approx(out["rating"] / 40, abs=0.5)  # uniform 0-4000
    assert out["percentile_ci95"][0] <= out["percentile"] <= out["percentile_ci95"][1]


@pytest.mark.parametrize("text", [
    "",
    "not json\n",
    '{"rating": 1500}\n',
    '{"rating": 1500, "solved": 1.5}\n',
    '{"rating": "x", "solved": 0.5}\n',
    '{"rating": 1500, "passes": 5, "n": 4}\n',
    '{"rating": 1500, "passes": 1, "n": 0}\n',
    '{"rating": null, "solved": 0.5}\n',
])
def test_elo_cli_bad_input_exits_2(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["elo", "--input", str(_write(tmp_path / "bad.jsonl", text))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("r1eval: error:") and len(err.splitlines()) == 1


def test_elo_cli_missing_files_exit_2(tmp_path: Path) -> None:
    assert main(["elo", "--input", str(tmp_path / "nope.jsonl")]) == 2
    good = _write(tmp_path / "in.jsonl", '{"rating": 1500, "solved": 0.5}\n')
    assert main(["elo", "--input", str(good), "--distribution", str(tmp_path / "nope.txt")]) == 2
    assert main(["elo"]) == 2


RATINGS = [(1200, 3), (1500, 1), (1800, 2), (2400, 4)]  # (rating, count)


@pytest.mark.parametrize("name, text", [
    ("jsonl_with_counts", "".join(json.dumps({"rating": r, "count": c}) + "\n" for r, c in RATINGS)),
    ("jsonl_without_counts", "".join(json.dumps({"rating": r}) + "\n" for r, c in RATINGS for _ in range(c))),
    ("json_list_of_numbers", json.dumps([r for r, c in RATINGS for _ in range(c)])),
    ("json_list_of_rows", json.dumps([{"rating": r, "count": c} for r, c in RATINGS])),
    ("one_per_line_with_header", "rating\n" + "".join(f"{r}\n" for r, c in RATINGS for _ in range(c))),
    ("csv_first_column", "rating,handle\n" + "".join(f"{r},user{i}\n" for i, (r, c) in enumerate(RATINGS)
                                                     for _ in range(c))),
])
def test_distribution_forms_give_the_same_percentiles(tmp_path: Path, name: str, text: str) -> None:
    """Every form `--distribution` documents reads to the same population: 3 x 1200, 1 x 1500, 2 x 1800,
    4 x 2400 (10 contestants)."""
    values, counts = read_distribution(_write(tmp_path / f"{name}.txt", text))
    population = sorted(v for v, c in zip(values, counts, strict=True) for _ in range(int(c)))
    assert population == sorted(float(r) for r, c in RATINGS for _ in range(c))
    # a rating of 1500 is above 3 contestants and ties 1: (3 + 0.5) / 10
    assert percentile(1500.0, values, counts) == pytest.approx(35.0)
    assert percentile(2000.0, values, counts) == pytest.approx(60.0)


@pytest.mark.parametrize("text, needle", [
    ('{"rating": 1500, "count": 2}\n{"rating": 1600, "count": -1}\n', "entry 2"),
    ('{"rating": 1500}\n{"rating": oops}\n', ":2: not a valid JSON row"),
    ('{"count": 3}\n', "entry 1"),
    ("1500\nabc\n", ":2: expected a rating number"),
    ('{"rating": 1500, "count": 0}\n', "holds no contestant ratings"),
])
def test_bad_distribution_is_one_line(tmp_path: Path, text: str, needle: str, capsys) -> None:
    good = _write(tmp_path / "in.jsonl", '{"rating": 1500, "solved": 0.5}\n')
    dist = _write(tmp_path / "dist.jsonl", text)
    assert main(["elo", "--input", str(good), "--distribution", str(dist)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
