"""Judge replies in the shapes real judges write: lower case, a bare letter, JSON (fenced or not)."""

from __future__ import annotations

import pytest

from r1eval.judge.templates import parse_verdict


@pytest.mark.parametrize(("reply", "grade"), [
    ("correct", "CORRECT"), ("incorrect", "INCORRECT"), ("Not attempted", "NOT_ATTEMPTED"),
    ("not_attempted", "NOT_ATTEMPTED"), ("b", "INCORRECT"), ("Correct.", "CORRECT"),
    ("incorrect\nthe year differs", "INCORRECT"), ("<think>maybe A</think>\nc", "NOT_ATTEMPTED"),
    ('{"grade": "A"}', "CORRECT"), ('```json\n{"grade": "B"}\n```', "INCORRECT"),
    ('{"Verdict": "not attempted", "why": "it declined"}', "NOT_ATTEMPTED"),
])
def test_a_judge_reply_in_any_case_or_json_is_read(reply: str, grade: str) -> None:
    assert parse_verdict(reply) == (grade, None)


@pytest.mark.parametrize("reply", ["The answer is not correct", "a correct answer", '{"grade": "maybe"}', "[1, 2]"])
def test_prose_or_json_without_a_grade_stays_a_judge_error(reply: str) -> None:
    grade, why = parse_verdict(reply)
    assert grade is None and why
