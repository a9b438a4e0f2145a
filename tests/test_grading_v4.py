"""Math grader v4 (issue 23): exactness at any magnitude in bounded time, a box that never closes, the
false-negative classes other projects' graders found (regression corpus tests/grading_corpus/math_v4.jsonl,
converted from sources the first corpus does not use), the one box scanner, and the measured error rates
that summaries and reports carry."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from r1eval.grading.math import MathGrader, clear_caches
from r1eval.grading.math_exact import MAX_BITS, TooLarge, evaluate
from r1eval.grading.math_normalize import clean_answer, closed_boxes, ends_in_open_box, find_boxes
from r1eval.grading.mcq import extract_choice
from r1eval.grading.provenance import (
    error_rates,
    error_rates_line,
    measured_error_rates,
    wilson_interval,
    with_error_rates,
)

CORPUS_DIR = Path(__file__).parent / "grading_corpus"
V4 = CORPUS_DIR / "math_v4.jsonl"
THINK = "<think>\nLet me try: maybe \\boxed{17}? No.\n</think>\n\n"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _project(source: str) -> str:
    return "/".join(source.split("/")[3:5]) if source.startswith("https://") else source.split(" ", 1)[0]


@pytest.fixture(scope="module")
def grader():
    g = MathGrader(workers=1)
    yield g
    g.close()


def test_v4_corpus_is_well_formed_and_from_new_sources() -> None:
    rows = _rows(V4)
    assert len(rows) >= 120 and len({r["id"] for r in rows}) == len(rows)
    old_sources = {r["source"].split(" (")[0] for r in _rows(CORPUS_DIR / "math.jsonl")}
    for row in rows:
        assert {"id", "source", "class", "gold", "completion", "label"} <= row.keys(), row["id"]
        assert row["label"] in ("correct", "incorrect") and "</think>" in row["completion"], row["id"]
        assert row["source"].startswith("https://github.com/") or re.fullmatch(r"[\w.-]+/[\w.-]+ \S.*", row["source"])
        assert row["source"].split(" (")[0] not in old_sources, row["id"]  # sources the first corpus does not cite
    assert len({_project(r["source"]) for r in rows}) >= 10
    assert Counter(r["label"] for r in rows)["incorrect"] >= 0.3 * len(rows)
    classes = Counter(r["class"] for r in rows)
    for name in ("mixed-number", "reference-solution", "approx", "comma-list", "equivalence", "inequality-sets",
                 "units", "sympy-syntax", "precision", "unclosed-box"):
        assert classes[name] >= 3, name


def test_v4_corpus_agreement(grader: MathGrader) -> None:
    rows = _rows(V4)
    verdicts = grader.grade([(r["completion"], r["gold"]) for r in rows])
    wrong = [(r["id"], r["gold"], r["completion"].split("</think>")[-1].strip(), v.extracted_answer)
             for r, v in zip(rows, verdicts, strict=True) if v.correct != (r["label"] == "correct")]
    assert not wrong, wrong


@pytest.mark.parametrize("gold,answer", [
    ("1", r"1 + \frac{1}{2^{2020}}"), (r"4^{2004} + 2^{2004}", r"4^{2004}"),
    (r"\frac{2016!}{1953!} - 63!\cdot 2016", r"\frac{2016!}{1953!}"), (r"10^{10^{10}}", r"10^{10^{10}}+1"),
    (r"10^{10^{10^{10}}}", r"10^{10^{10^{10}}}+1"), (r"(10^{7})!", r"(10^{7})!+1"), (r"2^{100000}", r"2^{100000}+1"),
    (r"\sqrt{2}+\sqrt{3}", r"\sqrt{5+2\sqrt{6}}+\frac{1}{10^{80}}"), (r"1+i", r"1+i+\frac{i}{3^{5000}}"),
])
def test_exact_at_any_magnitude_and_bounded(grader: MathGrader, gold: str, answer: str) -> None:
    clear_caches()
    start = time.perf_counter()
    wrong, same = grader.grade([(THINK + f"$\\boxed{{{answer}}}$", gold), (THINK + f"$\\boxed{{{gold}}}$", gold)])
    assert time.perf_counter() - start < 10  # a bound, with room for a loaded machine (measured: under 0.5 s)
    assert wrong.correct is False and same.correct is True


def test_exact_values_and_size_limits() -> None:
    import sympy

    assert evaluate(sympy.Pow(2, 10, evaluate=False)).value.re == 1024
    assert evaluate(sympy.Pow(8, sympy.Rational(2, 3), evaluate=False)).value.re == 4  # a perfect root
    assert evaluate(sympy.sqrt(2, evaluate=False)).value is None  # irrational: compared numerically
    assert evaluate(sympy.Float("0.5")).inexact
    with pytest.raises(TooLarge):
        evaluate(sympy.Pow(10, 10**8, evaluate=False))
    assert MAX_BITS < 10**8


@pytest.mark.parametrize("answer,gold,expected", [
    (r"\boxed{2^{2020}}", r"4^{1010}", True),
    (r"\boxed{1.0}", r"1 + \frac{1}{2^{2020}}", True),  # a decimal keeps its tolerance
    (r"\boxed{\frac{1}{3}}", r"0.3333", True),
    (r"\boxed{0.5 + 0.5i}", r"\frac{1+i}{2}", True),
    (r"\boxed{\sin 30^\circ}", r"\frac{1}{2}", True),
    (r"\boxed{\cos x}", r"\sin(90^\circ - x)", True),
    (r"\boxed{30^\circ}", "30", True),  # degrees outside trig functions stay as before
    (r"\boxed{\ln 8}", r"3\log 2", True),
    (r"\boxed{x^2}", "x**2", True),
    (r"\boxed{y^2}", "x**2", False),
    (r"\boxed{\infty}", "oo", True),
    (r"\boxed{[0, 1]}", "Interval(0, 1)", True),
    (r"\boxed{7}", "__import__('os').getpid()", False),  # Python syntax is parsed only with sympy's names
    (r"\boxed{(-\infty,-1)\cup(2,\infty)}", r"x<-1 \text{ or } x>2", True),
    (r"\boxed{(-\infty,-1)\cup(2,\infty)}", r"x<-1, x>2", True),  # disjoint pieces listed: a union
    (r"\boxed{(1,3)}", r"x>1, x<3", True),  # overlapping pieces listed: a system
    (r"\boxed{133 \text{ min}}", r"2 \text{ h } 13 \text{ min}", True),
    (r"\boxed{2 \text{ feet}}", r"24 \text{ inches}", True),
    (r"\boxed{3 \text{ kg}}", r"3 \text{ g}", False),
    (r"\boxed{2 \text{ hours}}", r"2 \text{ meters}", False),
])
def test_new_equivalences(grader: MathGrader, answer: str, gold: str, expected: bool) -> None:
    assert grader.grade([(THINK + answer, gold)])[0].correct is expected


def test_one_box_scanner_for_math_and_mcq() -> None:
    text = r"a \boxed{\frac{1}{2}} b \fbox{x\{y\}} c \boxed{42"
    boxes = find_boxes(text)
    assert [(b.content, b.closed) for b in boxes] == [(r"\frac{1}{2}", True), (r"x\{y\}", True), ("42", False)]
    assert [b.content for b in closed_boxes(text)] == [r"\frac{1}{2}", r"x\{y\}"]
    assert ends_in_open_box(text) and not ends_in_open_box(r"\boxed{1}")
    choices = ["red", "green", "blue", "cyan"]
    assert extract_choice(THINK + r"Final: \boxed{C}", choices).letter == "C"
    assert extract_choice(THINK + r"Final: \boxed{\text{(B) green}}", choices).letter == "B"
    assert extract_choice(THINK + r"I pick \boxed{B} ... no wait, \boxed{C", choices).letter == "B"


def test_a_reply_cut_inside_a_box_has_no_answer(grader: MathGrader) -> None:
    for cut in (r"So the answer is \boxed{42", r"\fbox{42", r"$\boxed{41}$, no: \boxed{42"):
        verdict = grader.grade([(THINK + cut, "42")])[0]
        assert verdict.correct is False and verdict.extracted_answer is None
        assert "unclosed box" in verdict.detail["reason"]


def test_clean_answer_v4_forms() -> None:
    assert clean_answer(r"88 \frac{2}{3}") == r"\frac{266}{3}"
    assert clean_answer(r"88\ \frac{2}{3}") == r"\frac{266}{3}"
    assert clean_answer(r"-3\,\tfrac14") == r"-\frac{13}{4}"
    assert clean_answer("120,240,360,480,600") == "120, 240, 360, 480, 600"
    assert clean_answer("1,000,000, 500,000") == "1000000, 500000"
    assert clean_answer("115,000") == "115000"
    assert clean_answer(r"\frac{\pi}{4} \approx 0.785") == r"\frac{\pi}{4}"
    assert clean_answer(r"x \approx 0.785") == "0.785"
    assert clean_answer(r"1+2\mathrm{i}") == "1+2i"
    assert clean_answer(r"\log 2") == r"\ln 2" and clean_answer(r"\log_2 8") == r"\log_2 8"


def test_wilson_intervals_and_error_rates() -> None:
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04
    lo, hi = wilson_interval(5, 100)
    assert 0.02 < lo < 0.022 and 0.11 < hi < 0.113
    rates = error_rates([True, True, False, False], [True, False, True, False])
    assert (rates["false_positives"], rates["false_negatives"], rates["fp_rate"], rates["fn_rate"]) == (1, 1, 0.5, 0.5)


def test_summaries_carry_the_measured_error_rates() -> None:
    from r1eval.benches import get_bench

    grader = with_error_rates(get_bench("math500").provenance()["grader"])
    rates = grader["error_rates"]
    assert "missing" not in rates, rates
    assert rates["cases"] >= 700 and "math_v4.jsonl" in rates["corpus"] and "math.jsonl" in rates["corpus"]
    line = error_rates_line(grader)
    assert re.fullmatch(r"grader: r1eval-math v4, FP \d+\.\d% \[\d+\.\d, \d+\.\d\], FN \d+\.\d% \[\d+\.\d, \d+\.\d\] "
                        r"on [\d,]+ labelled cases", line), line
    assert "missing" in measured_error_rates({"name": "r1eval-math", "version": "3"})
    assert "missing" in measured_error_rates({"name": "r1eval-sandbox", "version": "3"})
    assert error_rates_line(with_error_rates({"name": "r1eval-sandbox", "version": "3"})) is None


def test_run_table_and_report_print_the_error_rates_next_to_pass_at_1(tmp_path: Path) -> None:
    from r1eval.benches import get_bench
    from r1eval.report import results_section
    from r1eval.runner import format_summary

    grader = with_error_rates(get_bench("math500").provenance()["grader"])
    summary = {"bench": "math500", "model": "m", "n_samples": 1, "num_problems": 2, "pass@1": 0.5,
               "pass@1_ci95": [0.0, 1.0], "pass@k": {"1": 0.5}, "mean_completion_tokens": 10.0,
               "truncation_rate": 0.0, "grader": grader}
    table = format_summary(summary, tmp_path).splitlines()
    at = next(i for i, line in enumerate(table) if line.startswith("pass@1"))
    assert table[at + 1].startswith("grader") and "r1eval-math v4, FP " in table[at + 1]
    row = {"bench": "math500", "label": "m", "model": "m", "problems": 2, "n": 1, "pass@1": 0.5,
           "pass@1_ci95": [0.0, 1.0], "cons": None, "kmax": None, "pass@kmax": None, "mean_completion_tokens": 10.0,
           "truncation_rate": 0.0, "disagreements": None, "tokens_generated": None, "generation_seconds": None,
           "grader": grader}
    assert any(line.startswith("- grader: r1eval-math v4, FP ") for line in results_section([row]))
