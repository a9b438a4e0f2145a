"""Reading a math answer out of a reply, as text: boxes, final-answer statements, and LaTeX clean-up.

Everything here is string work (no sympy), so it is cheap and runs before math-verify sees anything.

- `find_answer(region)`: where the answer is. The last `\\boxed{}` together with the boxes chained to it only by
  separators (`\\boxed{-2}` and `\\boxed{1}` is one answer `-2, 1`); a final-answer statement after that box
  wins over it (an intermediate box, then "The final answer is 12"); without a box, the last final-answer
  statement, in English or another language ("la réponse est 12", "答案是 12"). None: let math-verify's own
  fallbacks read the text.
- `clean_answer(text)`: the answer as LaTeX math-verify parses reliably: math delimiters and bold stripped,
  digit-group separators removed (`56,\\!017`, `1{,}000`, `1 000`), mixed numbers made fractions
  (`3128 1/2`), `\\sqrt(2)` braced, number words made digits ("forty two"), "percent" made `\\%`, list words
  made commas.
- `tidy_prose(text)` / `prose_number(text)`: an unmarked reply prepared for math-verify's own extraction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
# What may stand between two boxes that together state one answer: punctuation, math delimiters, spacing
# commands, "and"/"or" (also inside \text{}), and a short variable name with "=" ("x = \boxed{1}, y = \boxed{2}").
_CHAIN_GAP = re.compile(
    r"(?:\s|[,;.&$]|\\[()\[\]]|\\\\|\\[,;:! ]|\\q?quad\b|~|\band\b|\bor\b|\bet\b|和|或|、|，|；"
    r"|\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:,?\s*(?:and|or)\s*,?)?\s*\}"
    r"|[A-Za-z](?:_\{?\w{1,3}\}?)?'?\s*=)*",
)
# Boxes in one math environment with nothing between them (`$\boxed{1}\boxed{2}$`) are one answer; boxes in
# separate math environments need one of these between them: `$$\boxed{20}$$ \boxed{143}` is a first try and a
# final answer, and the last box wins (Math-Verify's tests/test_open_thoughts.py reads it as its last box).
_CHAIN_JOINER = re.compile(r"[,;&=]|\\q?quad\b|\band\b|\bor\b|\bet\b|和|或|、|，|；")
_APPROX_GAP = re.compile(
    r"(?:\s|\$|\\[()\[\]]|=|,)*(?:\\approx|≈|\\simeq|\\thickapprox|(?:which\s+is\s+)?(?:approximately|about|roughly)"
    r"|\\text\s*\{\s*(?:(?:which\s+is\s+)?(?:approximately|about|roughly))\s*\})(?:\s|\$|\\[()\[\]]|=)*")
_MATH_DELIMITER = re.compile(r"\$|\\[()\[\]]")
_ENGLISH_ANCHORS = (
    r"final\s+answer\s*(?:is|:)?", r"(?:the\s+)?answer\s+is", r"answer\s*:", r"answer\s*=",
)
# "The answer is" in the languages models switch to; each normalised to "The final answer is" for math-verify.
_OTHER_ANCHORS = (
    r"最终答案[是为：:]?", r"答案[是为：:]", r"所以答案是", r"答案\s*=",
    r"(?:la\s+)?r[ée]ponse\s+(?:finale\s+)?est", r"r[ée]ponse\s*(?:finale\s*)?:",
    r"(?:la\s+)?respuesta\s+(?:final\s+)?es", r"respuesta\s*(?:final\s*)?:",
    r"(?:die\s+)?(?:endg[üu]ltige\s+)?antwort\s+(?:ist|lautet)", r"antwort\s*:",
    r"(?:a\s+)?resposta\s+(?:final\s+)?[ée]", r"resposta\s*:",
    r"(?:la\s+)?risposta\s+(?:finale\s+)?[èe]", r"risposta\s*:",
    r"ответ\s*:", r"ответ\s*[—-]", r"答え[はは：:]", r"정답[은는:]?", r"답[은는:]",
    r"الإجابة\s*(?:هي)?\s*:?", r"उत्तर\s*(?:है)?\s*:?", r"cevap\s*:",
)
_ANCHOR = re.compile(r"(?i)(?:\*\*)?(?:" + "|".join(_ENGLISH_ANCHORS + _OTHER_ANCHORS) + r")(?:\*\*)?\s*:?\s*")
_HEDGE = re.compile(r"(?i)\s*I hope it is correct.*$", re.S)


@dataclass(frozen=True)
class Located:
    """Where the answer of a reply is: `kind` is "boxed", "multi-boxed" or "statement"; `text` the raw answer
    (box contents joined with ", ") or, for a statement, the statement from its anchor on."""

    kind: str
    text: str


class Box(NamedTuple):
    """One top-level `\\boxed{...}` / `\\fbox{...}`: its span and content (stripped); `closed` False for a box
    whose braces never balance (the reply was cut inside it: the box holds no answer)."""

    start: int
    end: int
    content: str
    closed: bool = True


def find_boxes(text: str) -> list[Box]:
    """Every top-level `\\boxed{...}` / `\\fbox{...}` of `text` in order: the one box scanner of the math and
    MCQ graders. Braces are counted (an escaped `\\{` or `\\}` is content); a box that never closes ends the
    list as `Box(..., closed=False)` holding the rest of the text."""
    boxes: list[Box] = []
    pos = 0
    while True:
        match = _BOX_START.search(text, pos)
        if match is None:
            return boxes
        depth, i = 1, match.end()
        while i < len(text) and depth:
            char = text[i]
            if char == "\\":  # an escaped brace \{ or \} is content, not structure
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            i += 1
        if depth:
            boxes.append(Box(match.start(), len(text), text[match.end():].strip(), closed=False))
            return boxes
        boxes.append(Box(match.start(), i, text[match.end(): i - 1].strip()))
        pos = i


def closed_boxes(text: str) -> list[Box]:
    """The boxes of `text` that close (see `find_boxes`)."""
    return [box for box in find_boxes(text) if box.closed]


def ends_in_open_box(text: str) -> bool:
    """Whether `text` was cut inside a box (`... \\boxed{42` at its very end): such a reply has no answer."""
    boxes = find_boxes(text)
    return bool(boxes) and not boxes[-1].closed


def last_box_chain(text: str) -> tuple[list[str], int] | None:
    """Contents of the last box and of the boxes before it joined only by separators (duplicates dropped),
    with the end offset of the last box; None without a box."""
    spans = closed_boxes(text)
    if not spans:
        return None
    last_end = spans[-1].end
    while len(spans) > 1 and _APPROX_GAP.fullmatch(text[spans[-2].end: spans[-1].start]):
        spans = spans[:-1]  # `\\boxed{\\frac{\\pi}{4}} \\approx \\boxed{0.79}`: the exact box is the answer
    chain = [spans[-1]]
    for span in reversed(spans[:-1]):
        gap = text[span[1]: chain[0][0]]
        if (len(gap) > 80 or _CHAIN_GAP.fullmatch(gap) is None
                or (_MATH_DELIMITER.search(gap) and _CHAIN_JOINER.search(gap) is None)):
            break
        chain.insert(0, span)
    contents = list(dict.fromkeys(box.content for box in chain if box.content))
    return contents, last_end


def last_statement(text: str, after: int = 0) -> tuple[int, str] | None:
    """The last final-answer statement starting at or after `after`: (its offset, the statement from the
    anchor to the end of its paragraph), anchor rewritten to "The final answer is"."""
    matches = [m for m in _ANCHOR.finditer(text, after)]
    for match in reversed(matches):
        rest = text[match.end():]
        end = rest.find("\n\n")
        body = _HEDGE.sub("", rest if end < 0 else rest[:end]).strip()
        if body and not re.match(r"(?i)(?:not|n't|incorrect|wrong)\b", body):
            return match.start(), "The final answer is " + body
    return None


def find_answer(region: str) -> Located | None:
    """Where the answer of a reply's answer region is (see the module docstring); None when neither a box
    nor a final-answer statement is there."""
    chain = last_box_chain(region)
    if chain is not None:
        contents, box_end = chain
        statement = last_statement(region, box_end)
        if statement is not None and _states_a_value(statement[1]):
            return Located("statement", statement[1])
        if contents:
            return Located("multi-boxed" if len(contents) > 1 else "boxed", ", ".join(contents))
    statement = last_statement(region)
    if statement is not None:
        return Located("statement", statement[1])
    return None


def _states_a_value(statement: str) -> bool:
    """Whether a statement after the last box restates an answer (a digit or some math), not only prose."""
    body = statement[len("The final answer is "):]
    return bool(re.search(r"\d|\$|\\\(|\\\[|\\frac|\\sqrt|\\boxed", body[:200]))


# --- clean-up of an answer string -------------------------------------------------------------------------

_DELIMITED = re.compile(r"^(?:\$\$(.*)\$\$|\$(.*)\$|\\\((.*)\\\)|\\\[(.*)\\\])$", re.S)
_TEXT_CMD = r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)\s*"
# digit-group separators: `,\!` `{,}` `\,` `\!` `\ ` `~` `'` between digits (`,\,` is a list's comma, kept)
_GROUP_SEP = re.compile(r"(?<=\d)(?:,\\!\s?|\{,\}|\\,|\\!|\\ |~|\{\\,\}|'(?=\d{3}))(?=\d)")
# at most three groups after the first (below 10^12): `120,240,360,480,600` is a list of five numbers
_COMMA_GROUPED = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3}){1,3}(?:\.\d+)?")
_LONG_COMMA_LIST = re.compile(r"-?\d+(?:,-?\d+){4,}")
_GROUPED_LIST = re.compile(r"-?\d{1,3}(?:,\d{3})*(?:\.\d+)?(?:,\s+-?\d{1,3}(?:,\d{3})*(?:\.\d+)?)+")
_SPACE_GROUPED = re.compile(r"-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")
_MIXED_NUMBER = re.compile(r"^([-+]?)([1-9]\d{0,2}(?: \d{3})+|\d+) +(\d+) */ *(\d+)$")
_MIXED_LATEX = re.compile(r"^([-+]?)(\d+)(?: |\\[ ,;:!]|~)*\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))$")
_PAREN_SQRT = re.compile(r"\\sqrt\s*\(([^()]*)\)")
_PLAIN_FUNC = re.compile(r"(?<![\\a-zA-Z])(sqrt|sin|cos|tan|log|ln|exp)\s*\(")
_LIST_WORDS = re.compile(
    r"\s*(?:,\s*)?(?:(?:\\q?quad\s*)?(?:\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b)(?:\s*\\q?quad)?|\\q?quad)"
    r"\s*(?:,\s*)?")
_GLUED_OR = re.compile(r"(?<=[\d)}])(?:or|and)(?=[A-Za-z(\\-]|\d)")
_PERCENT_WORD = re.compile(r"\s*(?:\\text\s*\{\s*)?\b(?:percent|percentage|pct|per\s*cent)\b(?:\s*\})?", re.I)
_DEGREE_WORD = re.compile(r"\s*(?:\\text\s*\{\s*)?(?:°|\bdegrees?\b)(?:\s*\})?", re.I)

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}


def words_to_number(text: str) -> int | None:
    """English number words as an integer ("forty-two" -> 42, "one hundred and five" -> 105); None if
    `text` is anything else."""
    tokens = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    if not tokens or " ".join(tokens) != re.sub(r"[\s-]+", " ", text.lower().strip(" .")):
        return None
    total = current = 0
    seen = False
    for token in tokens:
        if token == "and" and seen:
            continue
        if token in _UNITS:
            current += _UNITS[token]
        elif token in _TENS:
            current += _TENS[token]
        elif token in _SCALES and seen:
            scale = _SCALES[token]
            if scale == 100:
                current *= 100
            else:
                total, current = total + current * scale, 0
        else:
            return None
        seen = True
    return total + current if seen else None


def mixed_number(sign: str, whole: str, num: str, den: str) -> str | None:
    """`3128 1/2` as `\\frac{6257}{2}`; None unless the fraction part is proper (`11 6/6`, `4 4/0` are not
    mixed numbers)."""
    whole_value, num_value, den_value = int(whole.replace(" ", "")), int(num), int(den)
    if not 0 <= num_value < den_value:
        return None
    return f"{'-' if sign == '-' else ''}\\frac{{{whole_value * den_value + num_value}}}{{{den_value}}}"


def strip_delimiters(text: str) -> str:
    """The answer without sentence dressing: surrounding `$...$`, `\\(...\\)`, `\\[...\\]`, `**`, a trailing
    period or comma, "I hope it is correct"."""
    text = _HEDGE.sub("", text).strip()
    for _ in range(3):
        previous = text
        text = re.sub(r"(?:\\\\|\\[,;:! ]|\\q?quad)+$", "", text.strip()).rstrip(".,;:").strip()
        if text.startswith("**") and text.endswith("**") and len(text) > 4:
            text = text[2:-2]
        match = _DELIMITED.match(text)
        if match is not None:
            inner = next(g for g in match.groups() if g is not None)
            if "$" not in inner:
                text = inner
        if text == previous:
            break
    return text.strip()


def _unwrap_text(text: str) -> str:
    """`\\text{13}` -> `13`, `\\text{forty two}` -> `forty two` when the whole answer is one text command."""
    match = re.fullmatch(_TEXT_CMD + r"\{([^{}]*)\}", text)
    return match.group(1).strip() if match else text


def _brace_plain_functions(text: str) -> str:
    """Plain-text function calls as LaTeX: `sqrt(2)` / `\\sqrt(2)` -> `\\sqrt{2}`, `sin(x)` -> `\\sin(x)`."""
    text = _PAREN_SQRT.sub(r"\\sqrt{\1}", text)
    if "\\" in text and not _PLAIN_FUNC.search(text):
        return text

    def brace(match: re.Match) -> str:
        return "\\" + match.group(1) + "("

    text = _PLAIN_FUNC.sub(brace, text)
    text = _PAREN_SQRT.sub(r"\\sqrt{\1}", text)
    return re.sub(r"(?<![\\a-zA-Z])pi\b", r"\\pi", text)


def clean_answer(text: str) -> str:
    """An extracted answer (or a gold) as LaTeX that math-verify parses as the number or object meant."""
    text = strip_delimiters(text)
    text = _unwrap_text(text)
    number = words_to_number(text)
    if number is not None:
        return str(number)
    text = _GROUP_SEP.sub("", text)
    if _COMMA_GROUPED.fullmatch(text) or _SPACE_GROUPED.fullmatch(text):
        text = text.replace(",", "").replace(" ", "")
    elif _LONG_COMMA_LIST.fullmatch(text):  # `120,240,360,480,600`: a list, not one number
        text = ", ".join(text.split(","))
    elif _GROUPED_LIST.fullmatch(text):  # `1,000,000, 500,000`: grouped numbers listed with ", "
        text = ", ".join(part.replace(",", "") for part in re.split(r",\s+", text))
    for pattern in (_MIXED_NUMBER, _MIXED_LATEX):
        match = pattern.match(text)
        if match:
            mixed = mixed_number(*[g for g in match.groups() if g is not None])
            if mixed is not None:
                return mixed
    text = _approximated(text)
    text = _IMAGINARY_UNIT.sub("i", text)
    text = _UPRIGHT_E.sub("e", text)
    text = _LOG_NO_BASE.sub(r"\\ln", text)
    if _TRIG.search(text):  # degrees inside a trig function are radians to sympy: \sin(90^\circ - x)
        text = _DEGREES.sub(lambda m: f"\\frac{{{m.group(1)}\\pi}}{{180}}", text)
    text = _brace_plain_functions(text)
    text = re.sub(r"\\[bB]igg?[lr]?(?=[()\[\]|.]|\\[{}])", "", text)  # \bigl( ... \bigr): plain brackets
    text = _PERCENT_WORD.sub(r"\\%", text)
    text = _DEGREE_WORD.sub(r"^\\circ", text) if re.search(r"\d\s*(?:°|\\text\s*\{\s*degrees?|degrees?\b)", text) else text
    text = _GLUED_OR.sub(", ", text)
    if ";" in text and "=" not in text:  # (0;-2;6) coordinates, -12;-11;-10 lists
        text = text.replace(";", ",")
    if _LIST_WORDS.search(text):
        # between groups of assignments ("p = 5, q = 2 and p = 7, q = 2") the separator groups: ";"
        text = _LIST_WORDS.sub("; " if "=" in text else ", ", text).strip(" ,;")
    return text


_APPROX = re.compile(r"\\approx|≈|\\simeq|\\thickapprox")
_IMAGINARY_UNIT = re.compile(r"\\(?:mathrm|text|textrm|operatorname|mathit)\s*\{\s*i\s*\}")
_UPRIGHT_E = re.compile(r"\\(?:mathrm|text|textrm|operatorname|mathit)\s*\{\s*e\s*\}")  # Euler's number
_LOG_NO_BASE = re.compile(r"\\log(?![a-zA-Z_])(?!\s*_)")  # \log x is the natural log (as \ln); \log_2 keeps its base
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°)")


def _approximated(text: str) -> str:
    """`\\frac{\\pi}{4} \\approx 0.785`: the exact value before the approximation (`x \\approx 0.785`: the
    value after it, a lone variable being no answer)."""
    parts = _APPROX.split(text)
    if len(parts) < 2:
        return text
    left = parts[0].strip()
    if re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?\s*=?", left) or not left:
        return parts[-1].strip()
    return left


def prose_number(text: str) -> str:
    """A number as written in prose: digit groups dropped (`12,000,023`, `1 000`), a decimal comma made a
    point (`1,22`, `0,111`, `1000,99`)."""
    if re.fullmatch(r"-?[1-9]\d{0,2}(?:[ ,]\d{3}){1,3}(?:\.\d+)?", text):
        return text.replace(",", "").replace(" ", "")
    if re.fullmatch(r"-?\d+,\d+", text):
        return text.replace(",", ".")
    return text


_BRACKETED_VALUE = re.compile(r"(?<![\\a-zA-Z])\[\s*((?:(?!\\begin)[^\[\],;\n]){1,60}?)\s*\](?!\s*[(\[{])")
_CJK_BEFORE_NUMBER = re.compile(r"([\u3000-\u30ff\u3400-\u9fff\uff00-\uffef\u0600-\u06ff])(?=[-\d.])")
_PUNCT_IN_MATH = re.compile(r"(?<![.\\])\s*[.,;](\s*)(\$\$|\$|\\\]|\\\))")


_PROSE_MIXED = re.compile(
    r"(?<![\w/.,)])([-+]?)([1-9]\d{0,2}(?: \d{3})+|\d+) (\d+)/(\d+)(?![\d/.])(\s*(?:%|percent\b|pct\b))?")


def _prose_mixed(match: re.Match) -> str:
    mixed = mixed_number(*match.groups()[:4])
    if mixed is None:
        return match.group(0)
    return f" ${mixed}$" + ("%" if match.group(5) else "")


def tidy_prose(text: str) -> str:
    """A reply's prose prepared for math-verify's own extraction: markdown bold removed, sentence
    punctuation moved out of math (`$\\sqrt{2}.$`), a value in single brackets unwrapped (`[90]`),
    a space between a CJK or Arabic character and a number (`为13/28`), mixed numbers as LaTeX fractions
    (`4 4/9%` -> `$\\frac{40}{9}$%`)."""
    text = text.replace("**", " ").replace("\\$", " ")  # bold; an escaped currency sign carries no value
    text = _PROSE_MIXED.sub(_prose_mixed, text)
    text = _PUNCT_IN_MATH.sub(r"\1\2", text)
    text = _BRACKETED_VALUE.sub(lambda m: " " + m.group(1) + " ", text)
    return _CJK_BEFORE_NUMBER.sub(r"\1 ", text)
