"""Comparing a clean answer text with a clean gold text (`answers_match`): strings, literals, exact constants,
then math-verify with guards.

Order: equal strings; plain numbers (`_compare_literals`, exact fractions); the guards around math-verify
(primes, base subscripts, `\\ldots` sequences, choice letters, word answers); then both sides parsed by
math-verify: constants (also inside tuples, intervals, sets and matrices) by value (`math_exact`: exact at any
magnitude when neither side holds a decimal, else within 1e-6 relatively and to six decimal places, or to
the precision a decimal was written with); else math-verify `verify`, with set/relation comparison allowed.
Percent: `28\\%` is 0.28, and 28 when written as an integer or decimal.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import Any

from r1eval.grading.math_exact import TooLarge, evaluate, integer_bits, irrational_constants_equal
from r1eval.grading.math_forms import (
    mentions_i,
    python_syntax_as_latex,
    quantities_equal,
    relation_set,
    with_imaginary_unit,
)
from r1eval.grading.math_normalize import prose_number

PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5
# A decimal vs anything: equal within REL_TOL relatively *and* to six decimal places (ABS_TOL), so that neither
# 16386.21 vs 16386.20 nor 1e-8 vs 2e-8 pass; vs an exact value, a decimal written to MIN_ROUNDED_DIGITS
# significant digits or more also stands for its rounding (0.3333 for 1/3, 2.6667 for 8/3; not 3.14 for pi).
REL_TOL = 1e-6
ABS_TOL = 5e-7
MIN_ROUNDED_DIGITS = 4

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
    gold, answer = python_syntax_as_latex(gold) or gold, python_syntax_as_latex(answer) or answer
    decided = _compare_literals(gold, answer)
    if decided is not None:
        return decided
    decided = quantities_equal(gold, answer)
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
    decided = _compare_sets(gold, answer, gold_parsed[0], answer_parsed[0])
    if decided is not None:
        return decided
    if mentions_i(gold_parsed[0]) or mentions_i(answer_parsed[0]):
        gold_parsed = (with_imaginary_unit(gold_parsed[0]), *gold_parsed[1:])
        answer_parsed = (with_imaginary_unit(answer_parsed[0]), *answer_parsed[1:])
    decided = _compare_values(gold_parsed[0], answer_parsed[0])
    if decided is not None:
        return decided
    if _structurally_equal(gold_parsed[0], answer_parsed[0]):
        return True  # the same expression up to sympy's ordering: no need for math-verify's (timed) simplify
    return _verify(gold_parsed, answer_parsed) or _equal_for_positive_symbols(gold_parsed[0], answer_parsed[0])


def _structurally_equal(gold: Any, answer: Any) -> bool:
    import sympy

    try:
        # printed alike: the same expression (symbols may differ only in assumptions math-verify gave them)
        # (only expressions in variables: a lossy parse, `12:00` and `1:00` both read as zoo, must not match)
        return (isinstance(gold, sympy.Basic) and isinstance(answer, sympy.Basic) and bool(gold.free_symbols)
                and not gold.has(sympy.zoo, sympy.nan) and (bool(gold == answer) or str(gold) == str(answer)))
    except Exception:
        return False


def _compare_sets(gold: str, answer: str, gold_parsed: Any, answer_parsed: Any) -> bool | None:
    """A system of inequalities in one variable against the same set written as intervals or as another
    system (`math_forms.relation_set`); None unless one side is such a system and the other a set of reals."""
    import sympy
    from math_verify.utils import timeout

    @timeout(_seconds(VERIFY_TIMEOUT_S))
    def decide() -> bool | None:
        g_system, a_system = relation_set(gold, parse_answer), relation_set(answer, parse_answer)
        if g_system is None and a_system is None:
            return None
        g = g_system if g_system is not None else gold_parsed
        a = a_system if a_system is not None else answer_parsed
        if not (isinstance(g, sympy.Set) and isinstance(a, sympy.Set)) or isinstance(g, sympy.FiniteSet) or isinstance(
                a, sympy.FiniteSet):
            return None
        return g == a or (sympy.Complement(g, a) is sympy.S.EmptySet and sympy.Complement(a, g) is sympy.S.EmptySet)

    try:
        return decide()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None


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

    if _constant(gold) and _constant(answer):
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
        if len(gold) != len(answer) or not all(_constant(x) for x in (*gold, *answer)):
            return None
        return _same_elements(list(gold), list(answer))
    else:
        return None
    verdicts = [True if g == a else _values_equal(g, a) for g, a in pairs]
    if any(v is False for v in verdicts):
        return False
    return True if all(verdicts) else None


def _same_elements(gold: list[Any], answer: list[Any]) -> bool | None:
    """Two sets of constants: each gold element equals a distinct answer element (by `_constants_equal`)."""
    left = list(answer)
    for g in gold:
        match = next((i for i, a in enumerate(left) if g == a or _constants_equal(g, a)), None)
        if match is None:
            return False
        left.pop(match)
    return True


def _constant(x: Any) -> bool:
    """A finite constant (no variable, infinity or percent marker), of any size."""
    import sympy

    return (isinstance(x, sympy.Expr) and not isinstance(x, sympy.MatrixBase) and bool(x.is_number)
            and not x.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.UnevaluatedExpr))


def _constants_equal(gold: Any, answer: Any) -> bool | None:
    """Two constants by value (`math_exact`): exact values must be identical, at any magnitude; a side with a
    decimal is compared with `_numbers_close`; irrational exact constants agree to a precision derived from
    their size. A value too large to expand is equal only to the same expression written the same way."""
    import sympy

    try:
        g, a = evaluate(gold), evaluate(answer)
        if g.value is not None and a.value is not None:
            if not (g.inexact or a.inexact):
                return g.value == a.value
            g_places, a_places = _float_places(gold), _float_places(answer)
            return all(_numbers_close(gp, ap, not g.inexact, not a.inexact, g_places, a_places)
                       for gp, ap in zip(g.value, a.value, strict=True))
        if not (g.inexact or a.inexact):
            return irrational_constants_equal(gold, answer)
        integer_bits(gold), integer_bits(answer)  # size guard before evaluating numerically
    except TooLarge:
        return bool(gold == answer)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        return None
    gv, av = sympy.N(gold, 60), sympy.N(answer, 60)
    if not (gv.is_finite and av.is_finite):
        return None
    parts = []
    for g_part, a_part in zip(gv.as_real_imag(), av.as_real_imag(), strict=True):
        gf, af = _to_fraction(g_part), _to_fraction(a_part)
        if gf is None or af is None:
            return None
        parts.append((gf, af))
    g_places, a_places = _float_places(gold), _float_places(answer)
    return all(_numbers_close(gp, ap, not g.inexact, not a.inexact, g_places, a_places) for gp, ap in parts)


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

