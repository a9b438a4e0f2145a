"""Answer forms math-verify does not read as the same value, each brought to one reading before comparing.

- Plain sympy/Python syntax (`x**2 + 2*x`, `Rational(1, 3)`, `pi/4`, `sqrt(2)/2`, `oo`): math-verify reads
  `x**2 + 2*x` as 2 and `pi/4` as `i*p/4`; such a text is parsed by sympy (only whitelisted names, never
  attribute access, unevaluated) and written back as LaTeX.
- `i` as the imaginary unit: math-verify parses it as a variable, so `i(2-i)` never equals `1+2i`.
- Quantities in two unit systems: `133` minutes and `2` hours `13` minutes are one duration.
- A system of inequalities in one variable and the same set written as intervals: `x<-1` or `x>2` is
  `(-\\infty,-1)\\cup(2,\\infty)`.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

# --- plain sympy / Python syntax --------------------------------------------------------------------------

_SYMPY_NAMES = {"sqrt", "Rational", "pi", "oo", "exp", "log", "ln", "sin", "cos", "tan", "cot", "sec", "csc",
                "asin", "acos", "atan", "factorial", "binomial", "Abs", "E", "I", "Interval", "Union",
                "FiniteSet", "Eq", "Integer", "Float", "Symbol", "cbrt", "root", "Matrix"}
_PY_CHARS = re.compile(r"[A-Za-z0-9_+\-*/^(). ,<>=\[\]]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PY_SIGNAL = re.compile(r"\*\*|\*|\b(?:sqrt|Rational|exp|log|Interval|Union|FiniteSet|factorial|binomial|Abs|Eq|cbrt"
                        r"|root|asin|acos|atan|Matrix)\s*\(|\boo\b|\bpi\b")


def python_syntax_as_latex(text: str) -> str | None:
    """`x**2 + 2*x` -> `x^{2} + 2 x`; None when `text` is not plain sympy/Python syntax."""
    if "\\" in text or "$" in text or len(text) > 200 or not _PY_CHARS.fullmatch(text) or not _PY_SIGNAL.search(text):
        return None
    if re.search(r"[A-Za-z_]\s*\.|__|\.\s*[A-Za-z_]", text):
        return None  # attribute access: never evaluated
    names = set(_IDENT.findall(text))
    if any(name not in _SYMPY_NAMES and not re.fullmatch(r"[a-zA-Z]\d?", name) for name in names):
        return None
    import sympy
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations

    # the text holds only whitelisted names (checked above); sympy's own names serve the code parse_expr generates
    namespace: dict[str, Any] = {name: value for name, value in vars(sympy).items() if not name.startswith("_")}
    namespace.update({"__builtins__": {}, "ln": sympy.log})
    symbols = {name: sympy.Symbol(name) for name in names if name not in _SYMPY_NAMES}
    try:
        expr = parse_expr(text.replace("^", "**"), local_dict=symbols, global_dict=namespace,
                          transformations=standard_transformations, evaluate=False)
        return sympy.latex(expr)
    except Exception:
        return None


# --- the imaginary unit ---------------------------------------------------------------------------------------

def with_imaginary_unit(expr: Any) -> Any:
    """`expr` with the variable `i` read as the imaginary unit (as answers mean it)."""
    import sympy

    if not isinstance(expr, sympy.Basic):
        return expr
    units = {s: sympy.I for s in expr.free_symbols if s.name == "i"}
    if not units:
        return expr
    if isinstance(expr, sympy.Rel):  # `e^{i\pi} = -1` stays an equation (math-verify compares its sides)
        return expr.func(expr.lhs.subs(units), expr.rhs.subs(units), evaluate=False)
    return expr.subs(units)


def mentions_i(expr: Any) -> bool:
    import sympy

    return isinstance(expr, sympy.Basic) and any(s.name == "i" for s in expr.free_symbols)


# --- quantities with units ----------------------------------------------------------------------------------

_UNIT_SIZES: dict[str, tuple[str, Fraction]] = {}
for _dimension, _units in {
    "time": {("s", "sec", "secs", "second", "seconds"): 1, ("min", "mins", "minute", "minutes"): 60,
             ("h", "hr", "hrs", "hour", "hours"): 3600, ("day", "days"): 86400, ("week", "weeks"): 604800},
    "length": {("mm", "millimeter", "millimeters", "millimetre", "millimetres"): Fraction(1, 1000),
               ("cm", "centimeter", "centimeters", "centimetre", "centimetres"): Fraction(1, 100),
               ("m", "meter", "meters", "metre", "metres"): 1, ("km", "kilometer", "kilometers", "kilometre",
                                                                  "kilometres"): 1000,
               ("in", "inch", "inches"): Fraction(254, 10000), ("ft", "foot", "feet"): Fraction(3048, 10000),
               ("yd", "yard", "yards"): Fraction(9144, 10000), ("mi", "mile", "miles"): Fraction(1609344, 1000)},
    "mass": {("mg", "milligram", "milligrams"): Fraction(1, 1000), ("g", "gram", "grams"): 1,
             ("kg", "kilogram", "kilograms"): 1000, ("lb", "lbs", "pound", "pounds"): Fraction(45359237, 100000),
             ("oz", "ounce", "ounces"): Fraction(45359237, 1600000)},
    "volume": {("ml", "mL", "milliliter", "milliliters", "millilitre", "millilitres"): Fraction(1, 1000),
               ("l", "L", "liter", "liters", "litre", "litres"): 1},
    "money": {("cent", "cents"): 1, ("dollar", "dollars"): 100},
}.items():
    for _names, _size in _units.items():
        for _name in _names:
            _UNIT_SIZES[_name] = (_dimension, Fraction(_size))

_QUANTITY_TERM = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)")
_QUANTITY_GLUE = re.compile(r"(?:\s|,|\band\b)*")


def quantity(text: str) -> tuple[str, Fraction, int] | None:
    """A quantity written as numbers with units (`2 hours and 13 minutes`, `133 \\text{min}`): (dimension,
    value in the dimension's base unit, number of terms); None for anything else."""
    plain = re.sub(r"\\(?:text|textrm|mathrm|mbox|operatorname)\s*\{([^{}]*)\}", r" \1 ", text)
    plain = re.sub(r"\\[,;:! ]|~", " ", plain).strip().rstrip(".")
    terms, pos = [], 0
    for match in _QUANTITY_TERM.finditer(plain):
        if not _QUANTITY_GLUE.fullmatch(plain[pos: match.start()]):
            return None
        unit = _UNIT_SIZES.get(match.group(2)) or _UNIT_SIZES.get(match.group(2).lower())
        if unit is None:
            return None
        terms.append((unit, Fraction(match.group(1))))
        pos = match.end()
    if not terms or plain[pos:].strip() or len({dimension for (dimension, _), _ in terms}) != 1:
        return None
    return terms[0][0][0], sum((size * value for (_, size), value in terms), Fraction(0)), len(terms)


def quantities_equal(gold: str, answer: str) -> bool | None:
    """Both sides quantities with known units: of different dimensions never equal; of one dimension, with at
    least one side in two units or the two in different units, equal when their values in the base unit are;
    None when this rule does not apply."""
    g, a = quantity(gold), quantity(answer)
    if g is None or a is None:
        return None
    if g[0] != a[0]:
        return False  # 2 hours is not 2 meters
    if g[2] == 1 and a[2] == 1 and _unit_word(gold) == _unit_word(answer):
        return None  # one unit on both sides: the ordinary comparison decides
    return g[1] == a[1]


def _unit_word(text: str) -> str:
    words = re.findall(r"[A-Za-z]+", re.sub(r"\\[a-z]+", " ", text))
    return words[-1].lower() if words else ""


# --- inequalities in one variable as sets ---------------------------------------------------------------------

_RELATION = re.compile(r"<|>|\\[lg]eq?(?![a-z])|\\[lg]eqslant|≤|≥")
_UNION_WORD = re.compile(r"\\cup|\\lor|\\vee|\\text\s*\{\s*or\s*\}|\bor\b")
_INTERSECTION_WORD = re.compile(r"\\cap|\\land|\\wedge|\\text\s*\{\s*and\s*\}|\band\b")


def relation_set(text: str, parse: Any) -> Any:
    """The set of real numbers a system of inequalities in one variable describes (`x<-1, x>2`,
    `-1 < x \\le 3`, `\\begin{cases} x>1 \\\\ x<3 \\end{cases}`); None when `text` is not such a system.
    Pieces joined by `or` / `\\cup` are united, by `and` / `\\cap` / the lines of `cases` intersected; pieces
    joined by a comma are united when disjoint (a list of solution ranges) and intersected otherwise."""
    import sympy

    if not _RELATION.search(text):
        return None
    body = re.sub(r"\\begin\{cases\}|\\end\{cases\}", "", text)
    if "\\begin{cases}" in text:
        body = re.sub(r"\\\\", r" \\cap ", body)
    variable = None
    union_parts = []
    for union_piece in _UNION_WORD.split(body):
        sets = []
        for piece in _INTERSECTION_WORD.split(union_piece):
            comma_sets = []
            for atom in (a.strip(" &") for a in re.split(r"[,;]", piece)):
                if not atom:
                    continue
                parsed = parse(atom)
                if not parsed or not isinstance(parsed[0], sympy.Basic):
                    return None
                relation = parsed[0]
                if not isinstance(relation, sympy.Rel | sympy.And) or relation.has(sympy.Eq, sympy.Ne):
                    return None
                if relation.atoms(sympy.Function):
                    return None  # `0 < f(x) < 1`, `\sin x > 0`: not a set this rule reads
                names = {s.name for s in relation.free_symbols}
                if len(names) != 1 or (variable is not None and names != {variable}):
                    return None
                variable = next(iter(names))
                x = next(iter(relation.free_symbols))
                try:
                    comma_sets.append(relation.as_set() if x.is_real else
                                      relation.subs(x, sympy.Symbol(variable, real=True)).as_set())
                except Exception:
                    return None
            if not comma_sets:
                return None
            disjoint = all(a.intersect(b) is sympy.S.EmptySet
                           for i, a in enumerate(comma_sets) for b in comma_sets[i + 1:])
            sets.append(sympy.Union(*comma_sets) if disjoint and len(comma_sets) > 1
                        else sympy.Intersection(*comma_sets))
        union_parts.append(sympy.Intersection(*sets))
    return sympy.Union(*union_parts)
