"""Judge prompt templates (versioned package data, or a user's file) and the parsing of a judge's reply.

Every template asks for one of simple-evals' three SimpleQA grades as a letter (A: CORRECT, B: INCORRECT,
C: NOT_ATTEMPTED; openai/simple-evals simpleqa_eval.py). Placeholders are `{name}` for the fields a task
needs; only those names are substituted (in one pass), so other braces in a template or an answer stay
as they are. A pairwise template shows two answers (`{answer_1}`, `{answer_2}`) instead of a reference
and an answer; `r1eval judge calibrate` runs it in both orders to measure position sensitivity.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from r1eval.errors import UsageError
from r1eval.reasoning import answer_region

GRADES = ("CORRECT", "INCORRECT", "NOT_ATTEMPTED")
LETTER_GRADES = dict(zip("ABC", GRADES, strict=True))
BUILTIN = {"simpleqa": "simpleqa.v1.txt", "answer-match": "answer-match.v1.txt", "pairwise": "pairwise.v1.txt"}
POINTWISE_FIELDS = ("question", "reference", "answer")
PAIRWISE_FIELDS = ("question", "answer_1", "answer_2")
_PLACEHOLDER = re.compile(r"\{(question|reference|answer|answer_1|answer_2)\}")
_LEADING_LETTER = re.compile(r"^[\s\"'*(\[]*(?:(?i:grade|answer|verdict)\s*(?i:is)?)?\s*[:=]?\s*[\"'*(\[]*([ABC])"
                             r"[\"'*).\]]*(?:\s*$|\s*\n|\s*[:\-]\s*|\s+(?=CORRECT|INCORRECT|NOT[_ ]ATTEMPTED))")
_GRADE_WORD = re.compile(r"\b(NOT[_ ]ATTEMPTED|INCORRECT|CORRECT)\b")


@dataclass(frozen=True)
class JudgeTemplate:
    """One prompt template: its name (`simpleqa.v1` or the file path), text and SHA-256."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def fields(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.text))

    @property
    def pairwise(self) -> bool:
        return {"answer_1", "answer_2"} <= self.fields

    def check(self, pairwise_allowed: bool = False) -> JudgeTemplate:
        """UsageError naming the fields this template lacks (a pointwise one needs question, reference and
        answer; a pairwise one, where allowed, question, answer_1 and answer_2)."""
        needed = PAIRWISE_FIELDS if self.pairwise and pairwise_allowed else POINTWISE_FIELDS
        missing = [f"{{{f}}}" for f in needed if f not in self.fields]
        if self.pairwise and not pairwise_allowed:
            raise UsageError(f"judge template {self.name} is pairwise ({{answer_1}}, {{answer_2}}); grading needs "
                             "one with {question}, {reference} and {answer} (pairwise templates are for "
                             "`r1eval judge calibrate`)")
        if missing:
            raise UsageError(f"judge template {self.name} lacks {', '.join(missing)}; a template needs "
                             f"{', '.join('{' + f + '}' for f in needed)}")
        return self

    def render(self, **values: str) -> str:
        """The prompt with each placeholder replaced by its value (substituted text is not re-scanned)."""
        return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), self.text)


def load_template(name_or_path: str | Path) -> JudgeTemplate:
    """A built-in template by name (simpleqa, answer-match, pairwise) or a template file."""
    key = str(name_or_path)
    if key in BUILTIN:
        text = (resources.files("r1eval.judge") / "templates" / BUILTIN[key]).read_text(encoding="utf-8")
        return JudgeTemplate(BUILTIN[key].removesuffix(".txt"), text)
    path = Path(key)
    if not path.is_file():
        raise UsageError(f"`judge_template` {key}: no such file (or built-in template: {', '.join(BUILTIN)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"`judge_template` {key}: cannot read it ({exc})") from None
    return JudgeTemplate(str(path), text)


def bare_grade(text: str) -> str | None:
    """The grade when `text` is nothing but one, in any case: `b`, `Correct.`, `not attempted`, `"C"`."""
    token = re.sub(r"[\s-]+", "_", text.strip().strip("\"'*.`()[]{}: ").strip()).upper()
    return LETTER_GRADES.get(token) or (token if token in GRADES else None)


def json_grade(text: str) -> str | None:
    """The grade in a JSON object reply (fenced or not): `{"grade": "A"}`, `{"verdict": "incorrect"}`."""
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    for key in ("grade", "verdict", "judgement", "judgment", "answer", "result", "label"):
        value = next((v for k, v in obj.items() if k.lower() == key), None)
        if isinstance(value, str) and bare_grade(value):
            return bare_grade(value)
    return None


def parse_verdict(reply: str) -> tuple[str | None, str | None]:
    """(grade, None) or (None, why not) for a judge's reply: a leading letter A/B/C (`A`, `(B)`, `C: ...`,
    `Grade: A`) or exactly one grade word (CORRECT / INCORRECT / NOT_ATTEMPTED) after the reasoning."""
    text = answer_region(reply)  # a reasoning judge's <think> is stripped; None: it never closed
    if text is None:
        return None, "the judge's reasoning never closed (raise --judge-max-tokens)"
    text = text.strip()
    match = _LEADING_LETTER.match(text)
    if match:
        return LETTER_GRADES[match[1]], None
    grade = bare_grade(text) or bare_grade(text.splitlines()[0] if text else "") or json_grade(text)
    if grade:
        return grade, None
    words = {w.replace(" ", "_") for w in _GRADE_WORD.findall(text)}
    if len(words) == 1:
        return words.pop(), None
    if not text:
        return None, "empty judge reply"
    return None, "no grade in the judge's reply (expected A, B or C)"
