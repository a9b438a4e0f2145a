"""math-verify grading on tricky equivalences, the answer region, and the memo + pool path."""

import pytest

from r1eval.grading.math import MathGrader, answer_region, last_boxed

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
    ("The final answer is 42.", "42", True),  # no \boxed: math-verify's fallback
    # the answer inside <think> must be ignored
    (r"<think>so it is \boxed{5}</think> The answer is \boxed{7}", "5", False),
    (r"<think>so it is \boxed{5}</think> The answer is \boxed{5}", "5", True),
    (r"<think>reasoning cut off \boxed{5}", "5", False),  # reasoning never closed: no answer
    (r"first \boxed{4}, then corrected: \boxed{5}", "5", True),  # the last box counts
]


@pytest.fixture(scope="module")
def grader():
    g = MathGrader(workers=2)
    yield g
    g.close()


@pytest.mark.parametrize("completion,gold,expected", CASES)
def test_equivalences(grader: MathGrader, completion: str, gold: str, expected: bool) -> None:
    assert grader.grade([(completion, gold)])[0].correct is expected


def test_pool_path_matches_serial(grader: MathGrader) -> None:
    items = [(c, g) for c, g, _ in CASES] * 3 + [(rf"\boxed{{{i}}}", str(i % 7)) for i in range(40)]
    pooled = grader.grade(items)  # > 8 unique pairs: goes through the process pool
    serial = MathGrader(workers=1).grade(items)
    assert [(v.extracted_answer, v.correct) for v in pooled] == [(v.extracted_answer, v.correct) for v in serial]
    assert [v.correct for v in pooled[: len(CASES)]] == [e for _, _, e in CASES]


def test_unclosed_think_has_no_answer(grader: MathGrader) -> None:
    v = grader.grade([("<think>\\boxed{5}", "5")])[0]
    assert v.extracted_answer is None and not v.correct and "reason" in v.detail


def test_answer_region_and_last_boxed() -> None:
    assert answer_region("<think>a</think>b") == "b"
    assert answer_region("<think>a") is None
    assert answer_region("plain") == "plain"
    assert last_boxed(r"\boxed{1} and \boxed{\frac{a}{b}}") == r"\frac{a}{b}"
    assert last_boxed(r"\boxed{unbalanced") is None
    assert last_boxed(r"\fbox{3}") == "3"


def test_equivalent_classes(grader: MathGrader) -> None:
    assert grader.equivalent(r"\frac{1}{2}", "0.5")
    assert grader.equivalent("2/4", "1/2")
    assert not grader.equivalent("3", "4")
