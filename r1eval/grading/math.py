"""Math grading: read the answer after `</think>`, normalise it, compare it with math-verify; memo and pool.

Pipeline for one completion:
1. `answer_region` (r1eval.reasoning): the text after the last `</think>`; a `<think>` opened but never closed means the reply
   was cut inside its reasoning and has no answer.
2. `extract_answer`: the answer as text (`math_normalize.find_answer`): the last box with the boxes chained
   to it ("multi-boxed"), or a final-answer statement in any of several languages ("statement"), or
   math-verify's own fallbacks on the end of the reply ("fallback"); then `clean_answer`.
3. `answers_match(gold, answer)`: equal strings; else numbers (also inside tuples, intervals, sets and
   matrices) by value: exactly when both sides are exact, otherwise within 1e-6 relatively and to six decimal
   places, or to the precision a decimal was written with; else math-verify `verify` on the parses, with
   set/relation comparison allowed. Guards around math-verify reject what it wrongly accepts: primes and base
   subscripts it drops (`E'` vs `E`, `204_6` vs `204_5`), `\\ldots` sequences it truncates, a number read off
   the front of a term (`2x`). Percent: `28\\%` is 0.28, and 28 when written as an integer or decimal.

Verdicts are memoised by (extracted answer, gold), so the 64 samples of a problem that mostly repeat a few
answers are compared a few times; distinct pairs are graded in-process, and what is left after a few seconds
goes to a process pool. Parsing and each comparison run under timeouts; grading never raises.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from r1eval.grading.math_normalize import (
    clean_answer,
    find_answer,
    find_boxes,
    last_box_chain,
    prose_number,
    strip_delimiters,
    tidy_prose,
    words_to_number,
)
from r1eval.reasoning import answer_region
from r1eval.records import Verdict
from r1eval.workers import chunks, default_workers, process_pool

MATH_GRADER_VERSION = "3"  # bump whenever a verdict can change; recorded in config.json and summary.json
PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5
# A decimal vs anything: equal within REL_TOL relatively *and* to six decimal places (ABS_TOL), so that neither
# 16386.21 vs 16386.20 nor 1e-8 vs 2e-8 pass; vs an exact value, a decimal written to MIN_ROUNDED_DIGITS
# significant digits or more also stands for its rounding (0.3333 for 1/3, 2.6667 for 8/3; not 3.14 for pi).
REL_TOL = 1e-6
ABS_TOL = 5e-7
MIN_ROUNDED_DIGITS = 4
_POOL_MIN_ITEMS = 64  # below this many unique pairs, grading in-process beats handing work to workers
_POOL_AFTER_S = 5.0  # grade in-process this long before handing the rest to the pool (whose start-up, with
# math-verify imported in each worker, takes 1-2 s and more on a loaded machine)
_FALLBACK_CHARS = 4000  # math-verify's fallbacks look at the end of the reply

_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_FRACTION = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}|(-?\d+)\s*/\s*(\d+)")
_PERCENT = re.compile(r"\s*\\?%\s*$")
_ELLIPSIS = re.compile(r"\\[lc]?dots\b|\\ldots|\\cdots|\.\.\.|…")
_PRIMES = re.compile(r"'|\\prime\b")
_BASE = re.compile(r"(?<![A-Za-z\\])\d+_\{?(\d{1,2})\}?")
_CHOICE = re.compile(r"\(?([A-J])\)?")


def _seconds(limit: int) -> int | None:
    """A timeout for math-verify's signal-based guard; None (unbounded) off the main thread, where signals
    cannot be used and math-verify would otherwise fail every parse (a reward computed in a worker thread)."""
    return limit if threading.current_thread() is threading.main_thread() else None


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (balanced braces), or None."""
    boxes = find_boxes(text)
    return boxes[-1][2] if boxes else None


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


def locate_answer(completion: str) -> tuple[str, str] | None:
    """String work only: (how, text) with the clean answer for boxes, the statement or the end of the reply
    otherwise (`read_answer` finishes those); None when the reply has no answer region."""
    region = answer_region(completion)
    if region is None or not region.strip():
        return None
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
    """The gold as clean answer text: a bare answer, `$...$`, or a solution whose last box (or final-answer
    statement) holds it."""
    text = normalize_gold(gold)
    if find_boxes(text):
        contents, _ = last_box_chain(text) or ([], 0)
        return clean_answer(", ".join(contents))
    located = find_answer(text)
    if located is not None and located.kind == "statement":
        return _read_statement(located.text) or clean_answer(text)
    return clean_answer(_join_math_segments(text))


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


# --- comparing ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def parse_answer(text: str) -> tuple:
    """An answer text parsed once by math-verify (as the content of a box)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    try:
        return tuple(parse(f"\\boxed{{{text}}}", [LatexExtractionConfig(boxed_match_priority=0),
                                                  ExprExtractionConfig()], parsing_timeout=_seconds(PARSE_TIMEOUT_S)))
    except Exception:
        return ()


def answers_match(gold: str, answer: str) -> bool:
    """Whether an answer text equals a gold text (both clean, as from `gold_answer` / `extract_answer`).

    Asymmetric like math-verify: a gold equation `x = 3` accepts `3`, a gold set accepts a relation."""
    if gold == answer:
        return True
    if not gold or not answer:
        return False
    gold_pct, answer_pct = bool(_PERCENT.search(gold)), bool(_PERCENT.search(answer))
    if gold_pct != answer_pct:  # 28\% is 0.28, and 28 as a number written in percent; 4\frac49\% is not 4\frac49
        value = _PERCENT.sub("", gold if gold_pct else answer)
        for variant in (f"\\frac{{{value}}}{{100}}", value if _NUMBER.fullmatch(value) else None):
            if variant is None:
                continue
            if gold_pct and _match(variant, answer):
                return True
            if answer_pct and _match(gold, variant):
                return True
        return False
    if gold_pct:
        gold, answer = _PERCENT.sub("", gold), _PERCENT.sub("", answer)
    return _match(gold, answer)


def _match(gold: str, answer: str) -> bool:
    if _read_as(gold, answer):
        return True
    # `1,22` is a list in LaTeX and a decimal comma in prose: either reading may be meant
    gold_decimal, answer_decimal = prose_number(gold), prose_number(answer)
    if (gold_decimal, answer_decimal) != (gold, answer) and "," not in gold_decimal + answer_decimal:
        return _read_as(gold_decimal, answer_decimal)
    return False


def _read_as(gold: str, answer: str) -> bool:
    if _squash(gold) == _squash(answer):
        return True
    decided = _compare_literals(gold, answer)
    if decided is not None:
        return decided
    if _primes(gold) != _primes(answer):
        return False  # math-verify drops primes: E' would equal E
    gold_bases, answer_bases = _BASE.findall(gold), _BASE.findall(answer)
    if gold_bases and answer_bases and gold_bases != answer_bases:
        return False  # and base subscripts: 204_6 would equal 204_5
    if _ELLIPSIS.search(gold) or _ELLIPSIS.search(answer):
        return _sequences_match(gold, answer)
    choice = _choice_letters(gold, answer)
    if choice is not None:
        return choice
    words = _text_answers(gold, answer)
    if words is not None:
        return words
    gold_parsed, answer_parsed = parse_answer(gold), parse_answer(answer)
    if not gold_parsed or not answer_parsed:
        return False
    decided = _compare_values(gold_parsed[0], answer_parsed[0])
    if decided is not None:
        return decided
    return _verify(gold_parsed, answer_parsed) or _equal_for_positive_symbols(gold_parsed[0], answer_parsed[0])


def _squash(text: str) -> str:
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\(?:left|right)(?![a-zA-Z])|\\[!,; ]|\s+", "", text)
    return text.rstrip(".")


def _verify(gold: tuple, answer: tuple) -> bool:
    from math_verify import verify

    try:
        return bool(verify(list(gold), list(answer), allow_set_relation_comp=True,
                           timeout_seconds=_seconds(VERIFY_TIMEOUT_S)))
    except BaseException as exc:  # math-verify can raise on exotic input despite raise_on_error=False
        if isinstance(exc, KeyboardInterrupt):
            raise
        return False


def _literal(text: str) -> Fraction | None:
    """A plain number written as an integer, decimal or fraction (`-3`, `2.50`, `\\frac{3}{4}`, `3/4`)."""
    if _NUMBER.fullmatch(text):
        return Fraction(text if not text.startswith(("-.", ".")) else text.replace(".", "0.", 1))
    match = _FRACTION.fullmatch(text)
    if match:
        sign, num, den = (match.group(1), match.group(2), match.group(3)) if match.group(2) else (
            "-" if match.group(4).startswith("-") else "", match.group(4).lstrip("-"), match.group(5))
        if int(den) != 0:
            return Fraction(int(num), int(den)) * (-1 if sign else 1)
    return None


def _decimals(text: str) -> int | None:
    """Digits after the point of a decimal literal written to at least `MIN_ROUNDED_DIGITS` significant
    digits (`0.3333` -> 4; `3.14` -> None: too coarse to stand for an exact value)."""
    if not re.fullmatch(r"-?\d*\.\d+", text):
        return None
    significant = text.lstrip("-").replace(".", "").lstrip("0")
    return len(text.split(".")[1]) if len(significant) >= MIN_ROUNDED_DIGITS else None


def _numbers_close(gold: Fraction, answer: Fraction, gold_exact: bool, answer_exact: bool,
                   gold_places: int | None, answer_places: int | None) -> bool:
    """Exact equality when both sides are exact; otherwise REL_TOL and ABS_TOL, or a decimal's own precision
    when the other side is exact (`0.3333` for 1/3, never `5.001` for 5)."""
    if gold_exact and answer_exact:
        return gold == answer
    diff, scale = abs(gold - answer), max(abs(gold), abs(answer))
    if diff <= Fraction(REL_TOL) * scale and diff <= Fraction(ABS_TOL):
        return True
    for exact, places in ((gold_exact, answer_places), (answer_exact, gold_places)):
        if exact and places is not None and diff <= Fraction(1, 2 * 10**places):
            return True
    return False


def _compare_literals(gold: str, answer: str) -> bool | None:
    """Decide plain number vs plain number without sympy; None when either side is something else."""
    g, a = _literal(gold), _literal(answer)
    if g is None or a is None:
        return None
    g_exact, a_exact = "." not in gold, "." not in answer
    return _numbers_close(g, a, g_exact, a_exact, _decimals(gold), _decimals(answer))


def _compare_values(gold: Any, answer: Any) -> bool | None:
    """Decide two parsed answers made only of constants (numbers, or tuples, sets, intervals and matrices of
    numbers) by value: exact when neither side holds a float, else with a tolerance (`_numbers_close`).
    None when either holds anything else (math-verify decides)."""
    from math_verify.utils import timeout

    @timeout(_seconds(VERIFY_TIMEOUT_S))
    def decide() -> bool | None:
        return _values_equal(gold, answer)

    try:
        return decide()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None


def _values_equal(gold: Any, answer: Any) -> bool | None:
    import sympy

    if _plain_number(gold) and _plain_number(answer):
        return _constants_equal(gold, answer)
    pairs: list[tuple[Any, Any]]
    if isinstance(gold, sympy.Tuple) and isinstance(answer, sympy.Tuple):
        if len(gold) != len(answer):
            return False
        pairs = list(zip(gold.args, answer.args, strict=True))
    elif isinstance(gold, sympy.Interval) and isinstance(answer, sympy.Interval):
        if (gold.left_open, gold.right_open) != (answer.left_open, answer.right_open):
            return False
        pairs = [(gold.start, answer.start), (gold.end, answer.end)]
    elif isinstance(gold, sympy.MatrixBase) and isinstance(answer, sympy.MatrixBase):
        if gold.shape != answer.shape:
            return False
        pairs = list(zip(gold, answer, strict=True))
    elif isinstance(gold, sympy.FiniteSet) and isinstance(answer, sympy.FiniteSet):
        if len(gold) != len(answer) or not all(_plain_number(x) and x.is_real for x in (*gold, *answer)):
            return None
        pairs = list(zip(sorted(gold, key=float), sorted(answer, key=float), strict=True))
    else:
        return None
    verdicts = [True if g == a else _values_equal(g, a) for g, a in pairs]
    if any(v is False for v in verdicts):
        return False
    return True if all(verdicts) else None


def _plain_number(x: Any) -> bool:
    """A finite constant small enough to evaluate (no power towers like `10^{10^{10^{10}}}`)."""
    import sympy

    if not (isinstance(x, sympy.Expr) and not isinstance(x, sympy.MatrixBase) and bool(x.is_number)
            and not x.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.UnevaluatedExpr)):
        return False
    return not any(p.exp.has(sympy.Pow) or (p.exp.is_Integer and abs(p.exp) > 10**5) for p in x.atoms(sympy.Pow))


def _constants_equal(gold: Any, answer: Any) -> bool | None:
    """Two constants by value: exact when neither holds a float (60 digits, so `1/2006!` is not `1/2004!`),
    else `_numbers_close` on real and imaginary parts."""
    import sympy

    g_exact, a_exact = not gold.has(sympy.Float), not answer.has(sympy.Float)
    gv, av = sympy.N(gold, 60), sympy.N(answer, 60)
    if not (gv.is_finite and av.is_finite):
        return None
    parts = []
    for g_part, a_part in zip(gv.as_real_imag(), av.as_real_imag(), strict=True):
        gf, af = _to_fraction(g_part), _to_fraction(a_part)
        if gf is None or af is None:
            return None
        parts.append((gf, af))
    if g_exact and a_exact:
        scale = max(max(abs(g), abs(a)) for g, a in parts)
        return all(abs(g - a) <= scale * Fraction(1, 10**45) for g, a in parts)
    g_places = _float_places(gold)
    a_places = _float_places(answer)
    return all(_numbers_close(g, a, g_exact, a_exact, g_places, a_places) for g, a in parts)


def _float_places(x: Any) -> int | None:
    """Decimal places a float literal was written with (`2.6667` -> 4), if it has two significant digits."""
    import sympy

    if not isinstance(x, sympy.Float):
        return None
    written = repr(float(x))
    return _decimals(written) if "e" not in written else None


def _to_fraction(value: Any) -> Fraction | None:
    import sympy

    try:
        rational = sympy.Rational(value)
        return Fraction(int(rational.p), int(rational.q))
    except Exception:
        return None


def _equal_for_positive_symbols(gold: Any, answer: Any) -> bool:
    """Expressions sympy cannot simplify to each other only for lack of a sign (`\\sqrt{1/n}` vs
    `1/\\sqrt{n}`): equal when every variable is taken positive. Not tried with absolute values."""
    import sympy
    from math_verify.utils import timeout

    if not (isinstance(gold, sympy.Expr) and isinstance(answer, sympy.Expr)) or gold.has(sympy.Abs) or answer.has(
            sympy.Abs):
        return False
    names = {str(s) for s in gold.free_symbols}
    if not names or names != {str(s) for s in answer.free_symbols}:
        return False

    @timeout(_seconds(VERIFY_TIMEOUT_S))
    def decide() -> bool:
        positive = {name: sympy.Symbol(name, positive=True) for name in names}
        g = gold.subs({s: positive[str(s)] for s in gold.free_symbols})
        a = answer.subs({s: positive[str(s)] for s in answer.free_symbols})
        return sympy.simplify(g - a) == 0

    try:
        return bool(decide())
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return False


def _primes(text: str) -> int:
    return len(_PRIMES.findall(text))


def _split_top_level(text: str) -> list[str]:
    """`1, (2, 3), \\ldots` -> ["1", "(2, 3)", "\\ldots"]: commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _sequences_match(gold: str, answer: str) -> bool:
    """Sequences with an ellipsis (`1, 3, 5, \\ldots, 2n-1`): the same terms in the same order, ellipsis in
    the same places (math-verify reads only part of them)."""
    def terms(text: str) -> list[str]:
        text = re.sub(r"^[a-zA-Z](?:_\w)?\s*=\s*", "", text)
        return [("..." if _ELLIPSIS.fullmatch(p.strip()) else p) for p in _split_top_level(
            _ELLIPSIS.sub(lambda m: ", ..., ", text).replace(":", ","))]

    gold_terms, answer_terms = terms(gold), terms(answer)
    if len(gold_terms) != len(answer_terms):
        return False
    for g, a in zip(gold_terms, answer_terms, strict=True):
        if (g == "...") != (a == "..."):
            return False
        if g != "..." and not _match(g, a):
            return False
    return True


def _choice_letters(gold: str, answer: str) -> bool | None:
    """A multiple-choice gold (`C`, `(C)`, `\\text{(C)}`): the answer must name that letter, possibly
    followed by its option text (`C. x = 42`)."""
    def letter(text: str) -> str | None:
        match = _CHOICE.fullmatch(_plain_text(text))
        return match.group(1) if match else None

    g, a = letter(gold), letter(answer)
    if g is None and a is None:
        return None
    if g is not None and a is not None:
        return g == a
    lone, other = (g, answer) if g is not None else (a, gold)
    match = re.match(r"\(?([A-J])(?:[.:)]|\)[.:]?)(?:\s|$)", _plain_text(other))
    if match:
        return match.group(1) == lone
    return None


def _plain_text(text: str) -> str:
    """LaTeX text wrappers removed: `\\text{(C)}` -> `(C)`, `\\mathrm{E}` -> `E`."""
    return re.sub(r"\\(?:text|textbf|mathrm|mathbf|mathcal|mbox|textnormal)\s*\{([^{}]*)\}", r"\1", text).strip()


def _text_answers(gold: str, answer: str) -> bool | None:
    """Word answers (`\\text{Evelyn}`, `odd`, `\\text{east}`): equal ignoring case, spaces and LaTeX
    wrappers. None (math-verify decides) unless both are words and one is wrapped in text or both are words
    of three letters or more (`xy` may be a product)."""
    def words(text: str) -> str | None:
        plain = _plain_text(text)
        return plain.lower().replace(" ", "") if re.fullmatch(r"[A-Za-z][A-Za-z .'-]*[A-Za-z]", plain) else None

    g, a = words(gold), words(answer)
    if g is None or a is None:
        return None
    wrapped = "\\" in gold or "\\" in answer
    if g == a or wrapped or (len(g) >= 3 and len(a) >= 3):
        return g == a
    return None


def answers_equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers are the same answer (cons@n classes): either may play the gold."""
    try:
        return a == b or answers_match(a, b) or answers_match(b, a)
    except Exception:
        return False


# --- grading many --------------------------------------------------------------------------------------------

def grade_key(key: tuple[str, str], gold: str) -> tuple[str | None, bool]:
    """Grade one located answer against one gold: (answer text, correct). Never raises."""
    try:
        text = read_answer(key)
        if text is None:
            return None, False
        return text, answers_match(_gold_text(gold), text)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, False


def _grade_keys(pairs: list[tuple[tuple[str, str], str]]) -> list[tuple[str | None, bool]]:
    return [grade_key(k, g) for k, g in pairs]


@lru_cache(maxsize=4096)
def _gold_text(gold: str) -> str:
    try:
        return gold_answer(gold)
    except Exception:
        return gold


def clear_caches() -> None:
    """Forget every parsed answer and gold (benchmarks time cold runs)."""
    parse_answer.cache_clear()
    _gold_text.cache_clear()


def _safe_locate(completion: str) -> tuple[str, str] | None:
    try:
        return locate_answer(completion)
    except Exception:
        return None


class MathGrader:
    """Grades (completion, gold) pairs: memoised by (located answer, gold), unique pairs in a process pool."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._memo: dict[tuple[tuple[str, str], str], tuple[str | None, bool]] = {}
        self._equiv_memo: dict[tuple[str, str], bool] = {}
        self._pool: ProcessPoolExecutor | None = None

    def grade(self, items: Sequence[tuple[str, Any]]) -> list[Verdict]:
        """Grade (completion, gold answer) pairs, in order."""
        keys = [(_safe_locate(c), normalize_gold(g)) for c, g in items]
        todo = list(dict.fromkeys((k, g) for k, g in keys if k is not None and (k, g) not in self._memo))
        if todo:
            for pair, result in zip(todo, self._run(todo), strict=True):
                self._memo[pair] = result
        verdicts = []
        for key, gold in keys:
            if key is None:
                verdicts.append(Verdict(None, False, {"reason": "no answer (reasoning not closed or empty reply)"}))
                continue
            extracted, correct = self._memo[(key, gold)]
            if extracted is None:
                verdicts.append(Verdict(None, False, {"reason": "no parsable answer", "extraction": key[0]}))
            else:
                verdicts.append(Verdict(extracted, correct, {"extraction": key[0]}))
        return verdicts

    def equivalent(self, a: str, b: str) -> bool:
        """Memoised `answers_equivalent`."""
        pair = (a, b) if a <= b else (b, a)
        if pair not in self._equiv_memo:
            self._equiv_memo[pair] = answers_equivalent(*pair)
        return self._equiv_memo[pair]

    def _run(self, pairs: list[tuple[tuple[str, str], str]]) -> list[tuple[str | None, bool]]:
        """Grade unique pairs in-process; when that has taken `_POOL_AFTER_S` and many pairs remain, the
        rest goes to the process pool (so small and cheap batches never pay for starting it)."""
        if self.workers == 1 or len(pairs) < _POOL_MIN_ITEMS:
            return _grade_keys(pairs)
        results: list[tuple[str | None, bool]] = []
        if self._pool is None:
            deadline = time.perf_counter() + _POOL_AFTER_S
            while len(results) < len(pairs) and (time.perf_counter() < deadline
                                                 or len(pairs) - len(results) < _POOL_MIN_ITEMS):
                results.append(grade_key(*pairs[len(results)]))
        rest = pairs[len(results):]
        if not rest:
            return results
        try:
            self.start_pool()
            assert self._pool is not None
            return results + [r for part in self._pool.map(_grade_keys, chunks(rest, self.workers)) for r in part]
        except (BrokenProcessPool, OSError):  # a worker killed (out of memory) or unable to start
            self.close()
            self.workers = 1  # grade here from now on rather than lose the batch
            return results + _grade_keys(rest)

    def start_pool(self) -> None:
        """Start the worker processes (call early to overlap their start with model loading).

        Workers fork from a forkserver that has imported math-verify once, so they start fast and never
        inherit the parent's torch threads."""
        if self._pool is None and self.workers > 1:
            self._pool = process_pool(self.workers, preload=["math_verify", "r1eval.grading.math"])
            for _ in self._pool.map(_grade_keys, [[] for _ in range(self.workers)]):
                pass

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
