"""Comparing two constants by value, exactly at any magnitude and in bounded time.

math-verify and a fixed-precision `N()` see `1 + 1/2^{2020}` and `1`, or `4^{2004}` and `4^{2004} + 2^{2004}`,
as equal: they agree to every digit a 60-digit evaluation keeps. Here a constant is first evaluated exactly,
as a Gaussian rational (integers, fractions, `i`, `+ - * /`, integer and perfect-root powers, factorials,
binomials), with every step's size estimated before it is computed, so a value past `MAX_BITS` (a power
tower, `(10^7)!`) is never expanded. Two exact values are equal only when they are identical. A decimal on
either side makes that side inexact: its value is still exact (the decimal as written) and the tolerance
rule of `math_compare` applies. Irrational constants (`\\sqrt{2}`, `\\pi`, `\\ln 3`) are compared numerically
at a precision derived from the sizes of the integers they are built from, and equal only when they agree to
all those digits.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, NamedTuple

MAX_BITS = 1 << 22  # about 1.26 million decimal digits: larger exact values are not expanded
MAX_DIGITS = 4000  # the most digits an irrational comparison evaluates


class TooLarge(Exception):
    """A value (or a step towards it) would exceed `MAX_BITS`."""


class Gaussian(NamedTuple):
    """An exact complex rational `re + im * i`."""

    re: Fraction
    im: Fraction = Fraction(0)

    def __add__(self, other: Gaussian) -> Gaussian:  # type: ignore[override]
        return Gaussian(self.re + other.re, self.im + other.im)

    def __mul__(self, other: Gaussian) -> Gaussian:  # type: ignore[override]
        return _checked(Gaussian(self.re * other.re - self.im * other.im, self.re * other.im + self.im * other.re))

    def inverse(self) -> Gaussian:
        norm = self.re * self.re + self.im * self.im
        if norm == 0:
            raise ZeroDivisionError
        return _checked(Gaussian(self.re / norm, -self.im / norm))

    def bits(self) -> int:
        return max(_fraction_bits(self.re), _fraction_bits(self.im))


ONE = Gaussian(Fraction(1))


def _fraction_bits(x: Fraction) -> int:
    return max(x.numerator.bit_length(), x.denominator.bit_length())


def _checked(value: Gaussian) -> Gaussian:
    if value.bits() > MAX_BITS:
        raise TooLarge
    return value


class Evaluated(NamedTuple):
    """A constant's exact value (None: irrational or not a constant) and whether it holds a decimal."""

    value: Gaussian | None
    inexact: bool


def evaluate(expr: Any) -> Evaluated:
    """The exact value of a sympy constant, or None in `value` where it is irrational (or not a constant).
    Raises TooLarge when a step would exceed `MAX_BITS`."""
    inexact = False

    def walk(node: Any) -> Gaussian | None:
        nonlocal inexact
        import sympy

        if isinstance(node, sympy.Float):
            inexact = True
            return Gaussian(Fraction(sympy.Rational(node).p, sympy.Rational(node).q))
        if isinstance(node, sympy.Rational):
            return _checked(Gaussian(Fraction(int(node.p), int(node.q))))
        if node is sympy.I:
            return Gaussian(Fraction(0), Fraction(1))
        if isinstance(node, sympy.UnevaluatedExpr):
            return walk(node.args[0])
        if isinstance(node, sympy.Add | sympy.Mul):
            values = [walk(arg) for arg in node.args]
            if any(v is None for v in values):
                return None
            result = values[0]
            for v in values[1:]:
                result = (result + v) if isinstance(node, sympy.Add) else (result * v)
            return _checked(result)
        if isinstance(node, sympy.Pow):
            return _power(walk(node.args[0]), walk(node.args[1]))
        if isinstance(node, sympy.factorial):
            n = _small_integer(walk(node.args[0]))
            if n is None or n < 0:
                return None
            if n > 2 and math.lgamma(n + 1) / math.log(2) > MAX_BITS:
                raise TooLarge
            return Gaussian(Fraction(math.factorial(n)))
        if isinstance(node, sympy.binomial):
            n, k = _small_integer(walk(node.args[0])), _small_integer(walk(node.args[1]))
            if n is None or k is None or n < 0:
                return None
            if k < 0 or k > n:
                return Gaussian(Fraction(0))
            if n > 2 and (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2) > MAX_BITS:
                raise TooLarge
            return Gaussian(Fraction(math.comb(n, k)))
        return None

    value = walk(expr)
    return Evaluated(value, inexact)


def _small_integer(value: Gaussian | None) -> int | None:
    if value is None or value.im != 0 or value.re.denominator != 1 or abs(value.re.numerator) > 10**7:
        return None
    return value.re.numerator


def _power(base: Gaussian | None, exponent: Gaussian | None) -> Gaussian | None:
    """base ** exponent for an integer exponent (size checked before expanding) or a rational exponent of a
    positive rational base that is a perfect power (`\\sqrt{4}`, `8^{2/3}`); None otherwise."""
    if base is None or exponent is None or exponent.im != 0:
        return None
    p, q = exponent.re.numerator, exponent.re.denominator
    if q != 1:
        if base.im != 0 or base.re <= 0 or q > 64:
            return None
        roots = [_exact_root(part, q) for part in (base.re.numerator, base.re.denominator)]
        if roots[0] is None or roots[1] is None:
            return None
        return _power(Gaussian(Fraction(roots[0], roots[1])), Gaussian(Fraction(p)))
    if base == Gaussian(Fraction(0)):
        if p < 0:
            raise ZeroDivisionError
        return base if p else ONE
    if base.bits() > 1 and abs(p) * base.bits() > MAX_BITS:
        raise TooLarge
    result = _integer_power(base, abs(p))
    return result.inverse() if p < 0 else result


def _integer_power(base: Gaussian, n: int) -> Gaussian:
    if base.im == 0:
        return _checked(Gaussian(base.re ** n))
    result, square = ONE, base
    while n:
        if n & 1:
            result = result * square
        n >>= 1
        if n:
            square = square * square
    return result


def _exact_root(n: int, q: int) -> int | None:
    root = round(n ** (1.0 / q)) if n.bit_length() < 1000 else _integer_root(n, q)
    for candidate in (root - 1, root, root + 1):
        if candidate >= 0 and candidate ** q == n:
            return candidate
    return None


def _integer_root(n: int, q: int) -> int:
    """floor(n ** (1/q)) by Newton's method on integers."""
    x = 1 << ((n.bit_length() + q - 1) // q)
    while True:
        y = ((q - 1) * x + n // x ** (q - 1)) // q
        if y >= x:
            return x
        x = y


def integer_bits(expr: Any) -> int:
    """The bits of the integers a constant is built from, with powers and factorials counted at the size of
    their value: a bound on the digits that tell two such constants apart. Raises TooLarge past `MAX_BITS`."""
    import sympy

    total = 0
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Rational):
            total += max(int(node.p).bit_length(), int(node.q).bit_length())
        elif isinstance(node, sympy.Pow) and node.args[1].is_number:
            exponent = abs(complex(sympy.N(node.args[1], 15))) if not node.args[1].has(sympy.Pow) else math.inf
            base = node.args[0]
            base_bits = (max(int(base.p).bit_length(), int(base.q).bit_length())
                         if isinstance(base, sympy.Rational) else 64)
            total += exponent * base_bits
        elif isinstance(node, sympy.factorial | sympy.gamma | sympy.binomial):
            argument = abs(complex(sympy.N(node.args[0], 15))) if not node.args[0].has(sympy.Pow) else math.inf
            total += argument * max(1.0, math.log2(argument + 1))
        if total > MAX_BITS:
            raise TooLarge
    return int(total)


def irrational_constants_equal(gold: Any, answer: Any) -> bool:
    """Two exact irrational constants: equal when they agree to a precision derived from the sizes of the
    integers they are built from (twice their digits, plus a margin), capped at `MAX_DIGITS`; a pair too large
    for that cap is equal only when sympy reduces the difference to zero."""
    import sympy

    try:
        digits = 40 + 2 * math.ceil((integer_bits(gold) + integer_bits(answer)) * math.log10(2))
    except (TooLarge, OverflowError, TypeError, ValueError):
        return bool(gold == answer)
    if digits > MAX_DIGITS:
        return bool(gold == answer) or _simplifies_to_zero(gold - answer)
    g, a = sympy.N(gold, digits), sympy.N(answer, digits)
    if not (g.is_finite and a.is_finite):
        return False
    scale = max(abs(g), abs(a), sympy.Integer(1))
    return bool(abs(g - a) <= scale * sympy.Float(10, digits) ** (-(digits - 10)))


def _simplifies_to_zero(difference: Any) -> bool:
    import sympy

    try:
        return bool(sympy.simplify(difference) == 0)
    except Exception:
        return False
