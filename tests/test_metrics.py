"""Metric formulas against hand-worked values and closed forms."""

from math import comb

import pytest

from r1eval.metrics import bootstrap_ci, ks_up_to, majority_vote, pass_at_k, summarize
from r1eval.records import Sample


def sample(pid: str, idx: int, correct: bool, answer: str | None = None, tokens: int = 10,
           finish: str = "stop") -> Sample:
    return Sample(pid, idx, 0, "p", "c", answer, correct, tokens, finish)


@pytest.mark.parametrize("n,c,k", [(4, 1, 1), (4, 1, 2), (4, 2, 2), (10, 3, 4), (64, 5, 8), (64, 0, 16), (5, 5, 4)])
def test_pass_at_k_matches_closed_form(n: int, c: int, k: int) -> None:
    expected = 1 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_hand_worked() -> None:
    # n=4, c=1: pass@1 = 1/4; pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5; pass@4 = 1
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(4, 0, 4) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_ks_up_to() -> None:
    assert ks_up_to(64) == [1, 2, 4, 8, 16, 32, 64]
    assert ks_up_to(6) == [1, 2, 4]
    assert ks_up_to(1) == [1]


def test_majority_vote_with_equivalence_and_ties() -> None:
    eq = lambda a, b: a.replace(" ", "") == b.replace(" ", "")  # noqa: E731
    # class {"1 /2", "1/2"} (size 2, wrong) beats "3" (size 1, correct)
    group = [sample("p", 0, True, "3"), sample("p", 1, False, "1 /2"), sample("p", 2, False, "1/2")]
    assert majority_vote(group, eq) is False
    # tie 1-1: the class formed first (lowest sample_index) wins, whatever the list order
    tie = [sample("p", 1, False, "4"), sample("p", 0, True, "3")]
    assert majority_vote(tie, eq) is True
    # samples without an answer do not vote
    none = [sample("p", 0, False, None), sample("p", 1, False, None), sample("p", 2, True, "5")]
    assert majority_vote(none, eq) is True
    assert majority_vote([sample("p", 0, False, None)], eq) is False


def test_summarize_hand_worked() -> None:
    samples = [
        sample("a", 0, True, "1"), sample("a", 1, True, "1"), sample("a", 2, False, "2"), sample("a", 3, False, "3"),
        sample("b", 0, False, "7", tokens=30, finish="length"), sample("b", 1, False, "7"),
        sample("b", 2, True, "5"), sample("b", 3, False, None),
    ]
    s = summarize(samples, bench="t", model="m", n=4, equivalent=lambda x, y: x == y)
    # pass@1: a = 2/4, b = 1/4 -> 0.375
    assert s["pass@1"] == pytest.approx(0.375)
    assert s["pass@k"]["2"] == pytest.approx(((1 - comb(2, 2) / comb(4, 2)) + (1 - comb(3, 2) / comb(4, 2))) / 2)
    assert s["pass@k"]["4"] == pytest.approx(1.0)
    assert s["cons@4"] == pytest.approx(0.5)  # a votes "1" (correct), b votes "7" (wrong)
    assert s["mean_completion_tokens"] == pytest.approx((7 * 10 + 30) / 8)
    assert s["truncation_rate"] == pytest.approx(1 / 8)
    assert s["num_problems"] == 2 and s["n_samples"] == 4
    lo, hi = s["pass@1_ci95"]
    assert 0.25 <= lo <= 0.375 <= hi <= 0.5


def test_bootstrap_ci_is_deterministic_and_covers_mean() -> None:
    values = [0.0, 1.0] * 50
    lo, hi = bootstrap_ci(values)
    assert (lo, hi) == bootstrap_ci(values)
    assert lo < 0.5 < hi and hi - lo < 0.25
    assert bootstrap_ci([0.7, 0.7, 0.7]) == (pytest.approx(0.7), pytest.approx(0.7))
