"""The math grader: answer region, extraction (boxes, several boxes, prose in several languages), the
normalisation around math-verify (one test per failure class of issue 11), precision, the memo + pool path,
and every MATH-500 gold graded against itself, its reformulations and a perturbation."""

import json
import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from r1eval.benches.math import bundled_path
from r1eval.grading.math import MathGrader, answers_equivalent, extract_answer, last_boxed
from r1eval.grading.math_normalize import clean_answer, last_box_chain, words_to_number
from r1eval.reasoning import answer_region

CORPUS = Path(__file__).parent / "grading_corpus" / "math.jsonl"
CORPUS_SOURCES = ("huggingface/Math-Verify tests/", "huggingface/lighteval tests/", "hendrycks/math modeling/",
                  "NVIDIA/NeMo-Skills tests/", "huggingface/open-r1 tests/", "inclusionAI/AReaL areal/tests/",
                  "https://github.com/huggingface/Math-Verify/issues/")

THINK = "<think>\nLet me try: maybe \\boxed{17}? No, 17 fails the second condition.\n</think>\n\n"

CASES = [
    # (completion, gold, expected correct)
    (r"The answer is \boxed{\frac{1}{2}}", "0.5", True),
    (r"\boxed{\dfrac{3}{4}}", "3/4", True),
    (r"\boxed{(-\infty, 3]}", r"(-\infty,3]", True),
    (r"\boxed{[2, 5)}", "(2,5)", False),  # interval ends matter
    (r"\boxed{10\text{ cm}}", "10", True),  # \text{} units
    (r"\boxed{30^\circ}", "30", True),  # degrees
    (r"\boxed{\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", True),
    (r"\boxed{\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix}}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", False),
    (r"\boxed{\{1,2\}}", r"\{2,1\}", True),
    (r"\boxed{\sqrt{2}/2}", r"\frac{\sqrt2}{2}", True),
    (r"\boxed{27.0}", 27.0, True),  # AMC golds are floats in the snapshot
    (r"\boxed{10\%}", "10", True),
    (r"\boxed{3}", "27", False),
    ("The final answer is 42.", "42", True),  # no \boxed: a final-answer statement
    # the answer inside <think> must be ignored
    (r"<think>so it is \boxed{5}</think> The answer is \boxed{7}", "5", False),
    (r"<think>so it is \boxed{5}</think> The answer is \boxed{5}", "5", True),
    (r"<think>reasoning cut off \boxed{5}", "5", False),  # reasoning never closed: no answer
    (r"first \boxed{4}, then corrected: \boxed{5}", "5", True),  # the last box counts
]

# One case (or a few) per failure class of issue 11: (answer text after </think>, gold, expected correct).
RESTATED_SUM = ("To solve this problem, let's break it down step-by-step:\n\nFirst, we need to find 56 + 47. This "
                "problem involves a simple arithmetic problem that involves a mix of math and a bit of creative "
                "thinking.\n\nTo solve this problem, let's think about the magic.\n\nBut let's break it")
FAILURE_CLASSES = {
    "1 several boxes": [
        (r"The integers are $\boxed{-2}$ and $\boxed{1}$.", "1,-2", True),
        (r"So $x=\boxed{-2}$ or $x=\boxed{1}$.", "1,-2", True),
        (r"$\boxed{(2,2)} \text{ and } \boxed{(6,2)}$", "(2,2),(6,2)", True),
        (r"The only solution is $\boxed{-2}$.", "1,-2", False),  # a partial "find all" answer
        (r"\boxed{1} and thus, after some thought, \boxed{2} and \boxed{3}", "2,3", True),  # prose breaks a chain
        (r"\boxed{1} and thus, after some thought, \boxed{2} and \boxed{3}", "1,2,3", False),
        # an intermediate box, then the final answer unboxed
        (r"The first CD earns $\boxed{200}$, the second $\boxed{255}$. Final Answer: The final answer is "
         r"$10,455$. I hope it is correct.", "10455", True),
        # boxes in separate math environments with nothing joining them: a first try, then the answer
        # (huggingface/Math-Verify tests/test_open_thoughts.py reads the last box)
        (r"$$\boxed{20}$$ \boxed{143}", "143", True),
        (r"$$\boxed{20}$$ \boxed{143}", "20,143", False),
        (r"$\boxed{1}\boxed{2}$", "1,2", True),  # one environment, adjacent boxes (Math-Verify tests/test_all.py)
    ],
    "R1-Zero answer tags": [  # huggingface/open-r1 tests/test_rewards.py: the answer is the <answer> tag's content
        ("<answer>9</answer>", "9", True),
        ("<answer>12</answer>", "9", False),
        (r"The sum is <answer>\frac{1}{2}</answer>.", "0.5", True),
    ],
    "2 sets, intervals, relations": [
        (r"$\boxed{-2 \le x \le 7}$", r"x \in [-2,7]", True),
        (r"$\boxed{[-2, 7]}$", r"x \in [-2,7]", True),
        (r"$\boxed{-2 < x \le 7}$", r"x \in [-2,7]", False),
        (r"$\boxed{x = 3}$", "3", True),
        (r"$\boxed{3}$", "x=3", True),
        (r"$\boxed{p=5,q=2}$", "(5,2)", True),
        (r"$\boxed{(5,2),(7,2)}$", "p=5,q=2;p=7,q=2", True),
        (r"$\boxed{0 < x < 12.5}$", "(0, 12.5)", True),
    ],
    "3 number formatting": [
        (r"$\boxed{56,\!017,\!895,\!760}$", "56017895760", True),
        (r"$\boxed{1\,000}$", "1000", True),
        (r"$\boxed{1{,}000}$", "1000", True),
        (r"$\boxed{32, 349}$", "32349", False),  # a space after the comma: a list, not a number
        ("The answer is 3128 1/2.", "3128.5", True),  # mixed number
        (r"$\boxed{918\frac{1}{2}}$", "918.5", True),
        (r"$\boxed{10\,\mathrm{cm}}$", "10", True),
        (r"$\boxed{\text{17 any text}}$", "17", False),
        (r"$\boxed{28 \text{ percent}}$", r"28\%", True),
        (r"$\boxed{10\%}$", "0.1", True),  # percent: the value or the fraction
        (r"$\boxed{0.1}$", r"10\%", True),
        ("The answer is 28.", "0.28", False),  # no percent sign on either side
        (r"$\boxed{\text{forty two}}$", "42", True),  # words
        ("The answer is forty-two.", "42", True),
        ("La réponse est 1,22.", "1.22", True),  # decimal comma in prose
    ],
    "4 precision": [
        (r"$\boxed{\frac{1}{2004!}}$", r"\frac{1}{2006!}", False),  # not equal after 6-digit rounding
        (r"$\boxed{\frac{1}{2^{98}}}$", r"\frac{1}{2^{99}}", False),
        (r"$\boxed{\frac{1}{3 \cdot 2^{2006}}}$", r"\frac{2^{2005}+1}{3 \cdot 2^{2006}}", False),
        (r"$\boxed{5.001}$", "5", False),
        (r"$\boxed{0.3333}$", r"\frac{1}{3}", True),  # a decimal stands for its rounding ...
        (r"$\boxed{0.333}$", r"\frac{1}{3}", False),  # ... when written to 4 significant digits
        (r"$\boxed{3.14}$", r"\pi", False),
        (r"$\boxed{0.0666668}$", "0.066666793", True),  # two decimals: relative tolerance 1e-6
        (r"$\boxed{2.232}$", "2.23", False),
        (r"$\boxed{(0.6,2.6667]}$", r"(\frac{3}{5},\frac{8}{3}]", True),  # inside intervals and tuples too
        (r"$\boxed{(1, 4.5)}$", r"(1,\frac{9}{2})", True),
        (r"$\boxed{\frac{1}{\sqrt{n}}}$", r"\sqrt{1/n}", True),  # equal for positive n
    ],
    "5 false positives": [
        (r"$\boxed{4\sqrt(2)}$", "4", False),
        (r"So the diagonal is $4\sqrt(2)$", "4", False),
        (r"$\boxed{4\sqrt(2)}$", r"4\sqrt{2}", True),
        (r"$\boxed{E'}$", "E", False),
        (r"$\boxed{E}$", "E'", False),
        (r"$\boxed{f'}$", "f'", True),
        (r"$\boxed{1, 3, 5, \ldots, 2n-1}$", r"1, 2, \ldots, n", False),
        (r"$\boxed{1, 2, \dots, n}$", r"1, 2, \ldots, n", True),
        (r"$\boxed{1:4:9:\ldots}$", r"1:2:3:\ldots", False),
        (r"$\boxed{\sqrt{67}}$", r"\sqrt{67},-\sqrt{85}", False),
        (r"The cube is $\boxed{1728}$.", "1331 and 1728", False),
        (r"$\boxed{2021}$", r"\pm 2021", False),
        (r"$\boxed{\text{(C)}+1}$", r"\text{(C)}", False),
        # arithmetic on numerals in prose or stated is no answer: a GRPO policy rewarded by grader v2 learnt to
        # ramble and restate the question's sum (mini reproduction, 95% of its held-out replies); math-verify
        # evaluated `56 + 47` to the gold 103
        (RESTATED_SUM, "103", False),
        ("So the answer is 56 + 47.", "103", False),
        (r"The answer is $3 \times 4$.", "12", False),
        ("We need to compute 20 - 7 first, and then we are done", "13", False),
        ("56 + 47 = 103, so the sum is 103.", "103", True),  # computed: right
        ("The answer is -5.", "-5", True),  # a signed number is a value
        ("The answer is 1/2.", r"\frac{1}{2}", True),  # so is a fraction
        (r"\boxed{2+\sqrt{3}}", r"2+\sqrt{3}", True),  # arithmetic with a surd is an answer form
        ("3+2", "5", True),  # a reply that is only the formula (AReaL's test labels it right)
    ],
    "6 unboxed answers": [
        ("The answer is 2x.", "2", False),  # the number in front of a term is not the answer
        ("The answer is 2x.", "2x", True),
        ("la réponse est 12", "12", True),
        ("答案是 12", "12", True),
        (r"所以答案是 $\frac{1}{2}$。", r"\frac{1}{2}", True),
        ("Die Antwort ist 5.", "5", True),
        ("Ответ: 8", "8", True),
        ("La respuesta es 7.", "7", True),
        ("答えは 12 です。", "12", True),
        ("정답은 12입니다.", "12", True),
        ("计划的比例为13/28", "13/28", True),  # no anchor: math-verify's fallback on the reply's end
        ("Thus, the number of residents is **73**.\n\n✅ Final Answer: **73**", "73", True),
        ("The answer is East.", r"\text{east}", True),
        (r"The domain is $(0, 1)$. Final Answer: The final answer is $(0, 1)$. I hope it is correct.", "[0,1)", False),
        ("The angle is [90].", "90", True),
    ],
}


@pytest.fixture(scope="module")
def grader():
    g = MathGrader(workers=2)
    yield g
    g.close()


@pytest.mark.parametrize("completion,gold,expected", CASES)
def test_equivalences(grader: MathGrader, completion: str, gold: str, expected: bool) -> None:
    assert grader.grade([(completion, gold)])[0].correct is expected


@pytest.mark.parametrize("failure_class,answer,gold,expected",
                         [(k, a, g, e) for k, cases in FAILURE_CLASSES.items() for a, g, e in cases])
def test_failure_classes(grader: MathGrader, failure_class: str, answer: str, gold: str, expected: bool) -> None:
    verdict = grader.grade([(THINK + answer, gold)])[0]
    assert verdict.correct is expected, (failure_class, verdict)


def test_extraction_detail_and_readable_answer(grader: MathGrader) -> None:
    boxed, multi, prose, nothing = grader.grade([
        (THINK + r"So $\boxed{\dfrac{1}{2}}$.", "1/2"),
        (THINK + r"$\boxed{-2}$ and $\boxed{1}$", "1,-2"),
        (THINK + "La réponse est 12.", "12"),
        (THINK + "I could not finish.", "12"),
    ])
    assert (boxed.detail, boxed.extracted_answer) == ({"extraction": "boxed"}, r"\dfrac{1}{2}")
    assert (multi.detail, multi.extracted_answer) == ({"extraction": "multi-boxed"}, "-2, 1")
    assert (prose.detail, prose.extracted_answer) == ({"extraction": "statement"}, "12")
    assert nothing.extracted_answer is None and not nothing.correct and "reason" in nothing.detail
    # an extracted answer re-parses to the same thing: cons@n votes over them
    assert grader.equivalent(multi.extracted_answer, "1, -2") and grader.equivalent(boxed.extracted_answer, "0.5")


def test_pool_path_matches_serial(grader: MathGrader) -> None:
    items = [(c, g) for c, g, _ in CASES] * 3 + [(rf"\boxed{{{i}}}", str(i % 7)) for i in range(80)]
    grader.start_pool()  # started: > 64 unique pairs go through it whatever their estimated cost
    pooled = grader.grade(items)
    serial = MathGrader(workers=1).grade(items)
    assert [(v.extracted_answer, v.correct) for v in pooled] == [(v.extracted_answer, v.correct) for v in serial]
    assert [v.correct for v in pooled[: len(CASES)]] == [e for _, _, e in CASES]


def test_broken_pool_falls_back_to_in_process() -> None:
    grader = MathGrader(workers=2)
    grader.start_pool()
    assert grader._pool is not None
    for pid in list(grader._pool._processes):  # the pool's own workers die (as under the OOM killer)
        os.kill(pid, signal.SIGKILL)
    verdicts = grader.grade([(rf"\boxed{{{i}}}", str(i)) for i in range(100)])
    assert all(v.correct for v in verdicts) and grader._pool is None and grader.workers == 1


def test_grading_in_a_worker_thread() -> None:
    """Off the main thread math-verify cannot use its signal timeouts; grading must still be right there."""
    from concurrent.futures import ThreadPoolExecutor

    items = [(THINK + r"$\boxed{\frac{2}{4}}$", "0.5"), (THINK + r"$\boxed{-2 \le x \le 7}$", r"x \in [-2,7]"),
             (THINK + "La réponse est 12.", "12"), (THINK + r"$\boxed{\frac{1}{2004!}}$", r"\frac{1}{2006!}")]
    with ThreadPoolExecutor(1) as pool:
        verdicts = pool.submit(MathGrader(workers=1).grade, items).result()
    assert [v.correct for v in verdicts] == [True, True, True, False]


def test_unclosed_think_has_no_answer(grader: MathGrader) -> None:
    v = grader.grade([("<think>\\boxed{5}", "5")])[0]
    assert v.extracted_answer is None and not v.correct and "reason" in v.detail


def test_never_raises_on_hostile_input(grader: MathGrader) -> None:
    hostile = ["\\boxed{" * 500, "$" * 1000, "\\frac{" * 200 + "1", "9" * 5000, "\\boxed{\\begin{pmatrix}",
               "<think></think>", "\x00\\boxed{1/0}", r"\boxed{10^{10^{10^{10}}}}", r"\boxed{\infty}"]
    verdicts = grader.grade([(h, "1") for h in hostile] + [(h, h) for h in hostile])
    assert len(verdicts) == 2 * len(hostile)


def test_answer_region_and_boxes() -> None:
    assert answer_region("<think>a</think>b") == "b"
    assert answer_region("<think>a") is None
    assert answer_region("plain") == "plain"
    assert last_boxed(r"\boxed{1} and \boxed{\frac{a}{b}}") == r"\frac{a}{b}"
    assert last_boxed(r"\boxed{unbalanced") is None
    assert last_boxed(r"\fbox{3}") == "3"
    assert last_box_chain(r"\boxed{1}, \boxed{2} and \boxed{1}")[0] == ["1", "2"]
    assert last_box_chain(r"\boxed{1}. Next we check \boxed{2}")[0] == ["2"]
    assert extract_answer("<think>x</think>") is None


def test_clean_answer() -> None:
    assert clean_answer(r"$12,\!000$.") == "12000"
    assert clean_answer("1 000 000") == "1000000"
    assert clean_answer(r"3\frac{1}{2}") == r"\frac{7}{2}"
    assert clean_answer("-3 1/2") == r"-\frac{7}{2}"
    assert clean_answer(r"4\sqrt(2)") == r"4\sqrt{2}"
    assert clean_answer(r"6 \text{ and } 8") == "6, 8"
    assert clean_answer("(0;-2;6)") == "(0,-2,6)"
    assert words_to_number("one hundred and five") == 105 and words_to_number("five apples") is None


def test_equivalent_classes(grader: MathGrader) -> None:
    assert grader.equivalent(r"\frac{1}{2}", "0.5")
    assert grader.equivalent("2/4", "1/2")
    assert grader.equivalent(r"x \in [-2,7]", r"-2 \le x \le 7")
    assert not grader.equivalent("3", "4")
    assert answers_equivalent(r"10\%", "0.1") and not answers_equivalent("E", "E'")


# --- MATH-500: every gold, boxed as a model would, against itself, reformulations and a perturbation --------

def _math500_golds() -> list[str]:
    return [json.loads(line)["answer"] for line in bundled_path("math500.jsonl").read_text().splitlines()]


def _reformulations(gold: str) -> list[str]:
    forms = {gold.replace(r"\frac", r"\dfrac"), gold.replace(" ", ""), gold.replace(r"\left", "").replace(r"\right", ""),
             re.sub(r",\\!\s?", "", gold), re.sub(r"\\text\{\s*\(([A-Z])\)\s*\}", r"\1", gold)}
    fraction = re.fullmatch(r"(-?)\\frac\{?(\d+)\}?\{?(\d+)\}?", gold)
    if fraction:
        sign, num, den = fraction.groups()
        forms.add(f"{sign}{num}/{den}")
        if 10**6 % int(den) == 0:  # terminating decimals: 0.5 for \frac12
            forms.add(f"{sign}{int(num) / int(den)}")
    if re.fullmatch(r"-?\d+", gold):
        forms |= {f"{gold}.0", f"{int(gold):,}"}
    return sorted(forms - {gold, ""})


def _perturbed(gold: str) -> str:
    digit = re.search(r"\d", gold)
    if digit is None:
        return gold + "+1"
    bumped = str((int(digit.group()) + 1) % 10) if not (digit.group() == "0" and digit.start() == 0) else "7"
    return gold[: digit.start()] + bumped + gold[digit.end():]


def test_math500_golds_grade_against_themselves() -> None:
    golds = _math500_golds()
    assert len(golds) == 500
    forms = ["The final answer is $\\boxed{%s}$.", "**Final Answer**\n\\[\n\\boxed{%s}\n\\]", "Thus \\(\\boxed{%s}\\)."]
    items, expected = [], []
    for i, gold in enumerate(golds):
        items.append((THINK + forms[i % 3] % gold, gold))
        expected.append(True)
        for j, form in enumerate(_reformulations(gold)):
            items.append((THINK + forms[(i + j + 1) % 3] % form, gold))
            expected.append(True)
        items.append((THINK + forms[(i + 2) % 3] % _perturbed(gold), gold))
        expected.append(False)
    grader = MathGrader(workers=2)
    try:
        verdicts = grader.grade(items)
    finally:
        grader.close()
    wrong = [(g, c[len(THINK):], e) for (c, g), e, v in zip(items, expected, verdicts, strict=True) if v.correct != e]
    assert not wrong, wrong[:10]
    assert len(items) > 1500  # 500 golds, 535 reformulations, 500 perturbations


# --- the regression corpus: other projects' labelled grader tests, converted to reasoning-model completions ---

def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_corpus_is_well_formed() -> None:
    rows = _corpus()
    assert len(rows) >= 400 and len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert {"id", "source", "class", "gold", "completion", "label"} <= row.keys(), row["id"]
        assert row["label"] in ("correct", "incorrect"), row["id"]
        assert "<think>" in row["completion"], row["id"]  # written as a reasoning model replies
        assert row["source"].startswith("https://github.com/") or re.fullmatch(r"[\w.-]+/[\w.-]+ \S+", row["source"])
    for source in CORPUS_SOURCES:
        assert any(r["source"].startswith(source) for r in rows), source
    labels = Counter(r["label"] for r in rows)
    assert labels["incorrect"] >= 0.25 * len(rows)  # false positives are tested as much as misses
    classes = Counter(r["class"] for r in rows)
    for failure_class in ("multi-boxed", "sets-relations", "number-format", "precision", "false-positive", "prose",
                          "multilingual", "percent", "units", "text", "think-region"):
        assert classes[failure_class] >= 3, failure_class


def test_corpus_agreement(grader: MathGrader) -> None:
    """Every case agrees with its source's label except the few listed with the reason (`r1eval_disagrees`)."""
    rows = _corpus()
    verdicts = grader.grade([(r["completion"], r["gold"]) for r in rows])
    agrees = [v.correct == (r["label"] == "correct") for r, v in zip(rows, verdicts, strict=True)]
    unexpected = [r["id"] for r, ok in zip(rows, agrees, strict=True) if not ok and "r1eval_disagrees" not in r]
    stale = [r["id"] for r, ok in zip(rows, agrees, strict=True) if ok and "r1eval_disagrees" in r]
    assert not unexpected and not stale, (unexpected, stale)
    assert sum(agrees) / len(rows) >= 0.97
