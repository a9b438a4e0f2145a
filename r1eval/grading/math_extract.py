"""Reading the answer of a reply, and of a gold, as clean answer text.

1. `answer_region`: the text after the last `</think>`; a `<think>` opened but never closed means the reply
   was cut inside its reasoning and has no answer; a reply cut inside `\\boxed{` has none either.
2. `locate_answer` / `read_answer`: the last box with the boxes chained to it ("multi-boxed"), or a
   final-answer statement in any of several languages ("statement"), or math-verify's own fallbacks on the
   end of the reply ("fallback"); then `clean_answer`. A number read off the front of a term (`2x`) and
   arithmetic on numerals stated as the answer are refused.
3. `gold_answer`: a gold read the same way (a bare answer, `$...$`, or a reference solution).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from r1eval.grading.math_compare import _NUMBER, _PERCENT, PARSE_TIMEOUT_S, _seconds
from r1eval.grading.math_normalize import (
    Box,
    clean_answer,
    closed_boxes,
    ends_in_open_box,
    find_answer,
    last_box_chain,
    prose_number,
    strip_delimiters,
    tidy_prose,
    words_to_number,
)
from r1eval.reasoning import answer_region

_FALLBACK_CHARS = 4000  # math-verify's fallbacks look at the end of the reply



def normalize_gold(answer: Any) -> str:
    """Gold answers as strings: 27.0 -> "27", 0.5 -> "0.5"."""
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return str(answer).strip()


@dataclass(frozen=True)
class Extraction:
    """The answer read from a reply: `text` (clean LaTeX, re-parseable) and how it was read."""

    text: str
    how: str  # "boxed" | "multi-boxed" | "statement" | "fallback"


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)
CUT_IN_BOX = "cut inside a box"  # the `how` of a reply that ends inside an unclosed `\\boxed{`


def locate_answer(completion: str) -> tuple[str, str] | None:
    """String work only: (how, text) with the clean answer for boxes, the statement or the end of the reply
    otherwise (`read_answer` finishes those); None when the reply has no answer region."""
    region = answer_region(completion)
    if region is None or not region.strip():
        return None
    if ends_in_open_box(region):  # cut inside `\\boxed{42`: what the box would have held is unknown
        return (CUT_IN_BOX, "")
    tags = _ANSWER_TAG.findall(region)
    if tags and tags[-1].strip():  # the R1-Zero template: the answer is what its last <answer> tag holds
        region = tags[-1]
    located = find_answer(region)
    if located is None:
        return ("fallback", region[-_FALLBACK_CHARS:])
    if located.kind == "statement":
        return ("statement", located.text)
    return (located.kind, clean_answer(located.text))


# Numerals joined by + - * \times \cdot and nothing else: a computation not carried out ("find 56 + 47").
_UNEVALUATED = re.compile(r"\s*(?:[A-Za-z]\s*=\s*)?[-+]?\s*\d+(?:\.\d+)?(?:\s*(?:[-+*×·]|\\times|\\cdot)\s*\d+(?:\.\d+)?)+\s*")


def read_answer(key: tuple[str, str]) -> str | None:
    """The answer text of a located answer (math-verify reads statements and unmarked replies). Arithmetic on
    numerals (`56 + 47`) picked out of prose or stated as the answer is no answer: math-verify evaluates it
    and accepts it for `103`, and a GRPO policy rewarded that way learnt to restate the question in rambling
    prose (our own mini reproduction). A reply that is only the formula (`3+2`, AReaL's test labels it
    right for 5) and a boxed one are kept as written."""
    how, text = key
    if how == CUT_IN_BOX:
        return None
    if how == "fallback":
        bare = prose_number(text.strip().rstrip("."))
        if _BARE_FORMULA.fullmatch(bare) and _looks_like_math(bare):  # the whole reply is a formula: "2x + 2"
            return clean_answer(bare) or None
        answer = _read_with_math_verify(text)
    elif how == "statement":
        answer = _read_statement(text)
    else:
        return text or None
    return None if answer is None or _UNEVALUATED.fullmatch(answer) else answer


def extract_answer(completion: str) -> Extraction | None:
    """The answer of a completion, or None when it has none (unclosed reasoning, empty or unparsable reply)."""
    key = locate_answer(completion)
    text = read_answer(key) if key is not None else None
    return Extraction(text, key[0]) if key is not None and text else None


def gold_answer(gold: Any) -> str:
    """The gold as clean answer text: a bare answer, `$...$`, or a reference solution read like a reply (its
    last box, unless a final-answer statement follows it). In a solution where `\\boxed{n}` is the problem's
    own notation (`\\boxed{11}=2`, `\\boxed{\\boxed{11}\\times\\boxed{20}}`), those boxes hold no answer: the
    answer is a later box, the statement after them, or the value the last equation ends on."""
    text = normalize_gold(gold)
    boxes = closed_boxes(text)
    if boxes:
        notation = [box for box in boxes if _is_notation(text, box)]
        if notation:
            for box in reversed(notation):  # `\boxed{` of a notation box no longer opens a box
                text = text[:box.start] + "\\operatorname{box}" + text[box.start + len("\\boxed"):]
            if len(notation) == len(boxes):
                located = find_answer(text)
                if located is not None and located.kind == "statement":
                    return _read_statement(located.text) or clean_answer(text)
                return clean_answer(_last_equation_value(text))
        located = find_answer(text)
        if located is not None and located.kind == "statement":
            return _read_statement(located.text) or clean_answer(", ".join(last_box_chain(text)[0]))
        contents, _ = last_box_chain(text) or ([], 0)
        return clean_answer(", ".join(contents))
    located = find_answer(text)
    if located is not None and located.kind == "statement":
        return _read_statement(located.text) or clean_answer(text)
    return clean_answer(_join_math_segments(text))


def _is_notation(text: str, box: Box) -> bool:
    """A box used as an operator of the problem: holding boxes, or followed by `=` / an operation."""
    after = text[box.end: box.end + 12]
    return "\\boxed" in box.content or bool(re.match(r"\s*(?:=|\\times|\\cdot|[-+]\s*(?:\d|\\boxed))", after))


def _last_equation_value(text: str) -> str:
    """What the last math environment's last `=` equals: `$\\boxed{12} = 6$.` -> `6`."""
    envs = list(_MATH_ENV.finditer(text))
    body = next(g for g in envs[-1].groups() if g is not None) if envs else text
    return body.rsplit("=", 1)[-1]


def _join_math_segments(text: str) -> str:
    """`$1$ and $2$ and $3$` -> `1 and 2 and 3`: a gold written as several inline-math pieces."""
    if text.count("$") >= 4 and not text.startswith("$$"):
        return text.replace("$", "")
    return text


# --- reading prose ------------------------------------------------------------------------------------------

_BARE_FORMULA = re.compile(r"[A-Za-z0-9 +\-*/^().,=<>!|'\\{}]{1,80}")  # one line, no math delimiters
_MATH_ENV = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_NON_MATH_CHAR = re.compile(r"[^\x00-\x7f°×÷π√−≤≥·∞]")  # a letter of another script: prose ("12 です")
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z{])[a-zA-Z]{3,}\b")
_MATH_WORDS = {"sqrt", "frac", "dfrac", "tfrac", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln",
               "exp", "infty", "cdot", "times", "pm", "mp", "left", "right", "text", "mbox", "circ", "le",
               "ge", "leq", "geq", "neq", "in", "cup", "cap", "arcsin", "arccos", "arctan", "begin", "end",
               "pmatrix", "bmatrix", "matrix", "mathrm", "quad", "and", "or", "boxed", "approx", "div"}


def _looks_like_math(text: str) -> bool:
    """Whether a stated answer is a formula (`2x`, `x = 3`, `\\frac{1}{2}`) rather than a sentence."""
    words = [w.lower() for w in _PROSE_WORD.findall(text)]
    return (bool(text) and len(text) <= 200 and all(w in _MATH_WORDS for w in words)
            and not _NON_MATH_CHAR.search(text))


def _read_statement(statement: str) -> str | None:
    """The answer stated in "The final answer is ...": its first math environment or formula, else what
    math-verify reads in the statement."""
    body = statement[len("The final answer is "):]
    sentence = re.split(r"(?<=[^\d\\])\.(?:\s|$)|\n|。", body, maxsplit=1)[0]
    env = _MATH_ENV.search(sentence)
    if env is not None and sentence[: env.start()].strip(" *:") == "":
        chained = _chained_envs(sentence, env)
        return clean_answer(chained) or None
    bare = prose_number(strip_delimiters(sentence.replace("**", "")))
    if words_to_number(bare) is not None or _looks_like_math(bare):
        return clean_answer(bare) or None
    if re.fullmatch(r"[A-Za-z][A-Za-z'-]*(?: [A-Za-z'-]+){0,2}", bare):  # a word answer: "East", "odd"
        return clean_answer(f"\\text{{{bare}}}")
    return _read_with_math_verify(statement)


def _chained_envs(sentence: str, first: re.Match) -> str:
    """The first math environment of a sentence and those joined to it by "and"/","/"or"."""
    parts = [next(g for g in first.groups() if g is not None)]
    pos = first.end()
    for env in _MATH_ENV.finditer(sentence, pos):
        if not re.fullmatch(r"\s*(?:,|and|or|,\s*and|et|和)?\s*", sentence[pos: env.start()]):
            break
        parts.append(next(g for g in env.groups() if g is not None))
        pos = env.end()
    return ", ".join(p.strip() for p in parts)


def _read_with_math_verify(text: str) -> str | None:
    """math-verify's own extraction (LaTeX environments, then plain numbers) as clean answer text; a number
    read off the front of a term (`2x`, `4\\sqrt(2)`) is refused."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    text = tidy_prose(text)
    try:
        parsed = parse(text, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
                       parsing_timeout=_seconds(PARSE_TIMEOUT_S))
    except Exception:
        return None
    if len(parsed) < 2 or not isinstance(parsed[-1], str) or not parsed[-1].strip():
        return None
    found = parsed[-1].strip()
    number = prose_number(found)
    if _NUMBER.fullmatch(number):
        if _prefix_of_term(text, found):
            return None
        found = _listed_before(text, found) + number
    answer = clean_answer(found)
    if _is_percent(parsed[0]) and not _PERCENT.search(answer):
        answer += "\\%"
    return answer or None


def _is_percent(value: Any) -> bool:
    """math-verify's reading of `28%`: 28 * UnevaluatedExpr(1/100)."""
    import sympy

    return (isinstance(value, sympy.Mul) and len(value.args) == 2
            and value.args[1] == sympy.UnevaluatedExpr(sympy.Rational(1, 100)))


def _listed_before(text: str, number: str) -> str:
    """The numbers listed right before the last `number` of a sentence ("The cubes are 1331 and 1728"):
    `"1331, "`; empty when it stands alone."""
    at = text.rfind(number)
    listed = re.search(r"(?:(?<![\w.])-?\d+(?:\.\d+)?(?:\s*,\s*|\s*,?\s+and\s+))+$", text[:max(at, 0)])
    if at <= 0 or listed is None:
        return ""
    return ", ".join(re.findall(r"-?\d+(?:\.\d+)?", listed.group(0))) + ", "


def _prefix_of_term(text: str, number: str) -> bool:
    """Whether the last occurrence of `number` in `text` is the coefficient of a term (`2x`, `4\\sqrt2`)."""
    at = text.rfind(number)
    if at < 0:
        return False
    after = text[at + len(number): at + len(number) + 6]
    return bool(re.match(r"(?:[a-zA-Z](?![a-zA-Z])|\\(?:sqrt|pi|sin|cos|tan|log|ln|frac)|\^|\()", after))

