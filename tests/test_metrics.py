"""Metric formulas against hand-worked values and closed forms."""

import json
from math import comb

import pytest

from r1eval.metrics import bootstrap_ci, ks_up_to, majority_vote, pass_at_k, summarize, token_budgets
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


def test_token_budgets() -> None:
    assert token_budgets(32768) == [1024, 2048, 4096, 8192, 16384, 32768]
    assert token_budgets(5000) == [1024, 2048, 4096, 5000]
    assert token_budgets(4096) == [1024, 2048, 4096]
    assert token_budgets(1000) == [125, 250, 500, 1000]  # small runs: max/8, max/4, max/2, max
    assert token_budgets(24) == [3, 6, 12, 24]
    assert token_budgets(7) == [1, 2, 4, 7]  # rounded up
    assert token_budgets(1) == [1]


def test_summary_budget_curve_lengths_and_rates_hand_worked() -> None:
    think = "<think>\nadd the ones then the tens\n</think>\n\\boxed{1}"
    samples = [
        # problem a, n=4: correct at 100, 600, 900 tokens; wrong at 1000
        Sample("a", 0, 0, "p", think, "1", True, 100, "stop"),
        Sample("a", 1, 0, "p", think, "1", True, 600, "stop"),
        Sample("a", 2, 0, "p", think, "1", True, 900, "stop"),
        Sample("a", 3, 0, "p", "<think>\nstill going", None, False, 1000, "length"),  # never closed
        # problem b, n=4: correct at 300; wrong at 50, 200, 700 (one reasoning mixes scripts)
        Sample("b", 0, 0, "p", think, "1", True, 300, "stop"),
        Sample("b", 1, 0, "p", "<think>\n首先 把 个位 相加</think>\n\\boxed{2}", "2", False, 50, "stop"),
        Sample("b", 2, 0, "p", "\\boxed{3}", "3", False, 200, "stop"),
        Sample("b", 3, 0, "p", "<think>\nthink think</think>\\boxed{4}", "4", False, 700, "stop"),
    ]
    s = summarize(samples, bench="t", model="m", n=4, equivalent=None, problem_ids=["a", "b"], max_tokens=1000)
    # budgets 125, 250, 500, 1000. At 125: a 1/4 (100), b 0/4 -> 0.125. At 250: same -> 0.125.
    # At 500: a 1/4, b 1/4 (300) -> 0.25. At 1000: a 3/4, b 1/4 -> 0.5 (= pass@1).
    assert s["pass@1_at_budget"] == {"125": 0.125, "250": 0.125, "500": 0.25, "1000": 0.5}
    assert list(s["pass@1_at_budget"]) == ["125", "250", "500", "1000"]
    assert s["pass@1_at_budget"]["1000"] == s["pass@1"]
    # correct tokens 100, 600, 900, 300: median (300+600)/2 = 450, mean 475, p90 = 600 + 0.7*(900-600) = 810
    # incorrect tokens 1000, 50, 200, 700: median 450, mean 487.5, p90 = 700 + 0.7*(1000-700) = 910
    assert s["length_stats"]["correct"] == {"count": 4, "median": 450.0, "p90": pytest.approx(810.0), "mean": 475.0}
    assert s["length_stats"]["incorrect"] == {"count": 4, "median": 450.0, "p90": pytest.approx(910.0),
                                              "mean": 487.5}
    assert s["unclosed_think_rate"] == 1 / 8
    assert s["mixed_language_rate"] == 1 / 8  # 7 CJK ideographs (words, > 2) in the reasoning of b, sample 1
    assert s["complete"] is True and s["missing_samples"] == 0


def test_summary_completeness_counts_missing_pairs() -> None:
    samples = [sample("a", 0, True), sample("a", 1, False), sample("b", 1, True)]
    s = summarize(samples, bench="t", model="m", n=2, equivalent=None, problem_ids=["a", "b", "c"])
    assert s["complete"] is False and s["missing_samples"] == 3  # (b, 0), (c, 0), (c, 1)
    s = summarize(samples[:2], bench="t", model="m", n=2, equivalent=None, problem_ids=["a"])
    assert s["complete"] is True and s["missing_samples"] == 0
    empty = summarize([], bench="t", model="m", n=2, equivalent=None, problem_ids=["a"], max_tokens=8)
    # nothing measured: null with a reason, never NaN (invalid JSON) or a 0 that looks measured
    assert empty["length_stats"] is None and empty["mean_completion_tokens"] is None
    assert empty["pass@1"] is None and empty["pass@1_ci95"] is None and "no finished samples" in empty["null_reason"]
    assert empty["truncation_rate"] is None and empty["pass@1_at_budget"] is None
    assert empty["complete"] is False and empty["missing_samples"] == 2
    json.dumps(empty, allow_nan=False)
