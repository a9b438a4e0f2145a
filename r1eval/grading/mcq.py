"""Multiple-choice answer extraction: which letter a reasoning model's reply chose.

Only the text after `</think>` counts (`answer_region`; a reply whose `<think>` never closed has no
answer). In that region every *stated choice* is a candidate, and the last one wins:

- an answer cue followed by a letter or a choice's text: `Answer: C`, `**Answer:** (C)`, `Answer: "C"`,
  `Final answer - B`, `the correct option is C`, `I'll go with C`, `The answer, after checking, is C`,
  `答案是 C`, `故选C`, `La réponse est (B)`, `Respuesta: C`, `Antwort: C`, `정답: C`, `答え：C`, `الإجابة: ب` ...
  (markdown, `$`, quotes, brackets and `\text{}` around the letter are skipped; a cue that ends its line
  reads the next line);
- a letter declared right: `(C) is correct`, `C is the correct answer`, `Option B: correct`, `B 是正确的`,
  `C est la bonne réponse`;
- a `\boxed{}` or `<answer>` tag holding a letter (`\boxed{C}`, `\boxed{\text{(C)}}`, `\boxed{C) 5 eV}`) or a
  choice's text;
- the last line when it is only a letter (`C`, `(C)`, `**C.**`, `Definitely C.`), a letter with its choice
  (`(C) Jupiter`), or ends on one after a colon, dash or "is" (`...: B`, `so it's B`) or in parentheses
  (`... I'd say (C)`); the first line when it opens with a letter and no other line does
  (`D. it can't be A or B`), unless it goes on about that option (`A) is wrong`).

Strictness: a letter mentioned in the reasoning is never a candidate (`I first thought A, but ...
Answer: C` gives C); the article "A" and the pronoun "I" are not letters (`Answer: A shift of ...`,
`Answer: I think it is C` gives C); a negated letter is not a choice (`the answer is not A`); a statement
that names two choices (`A or B`, `either B or C`, `A/B`, `A and C`) is a hedge, and if it is the last
statement the reply has no answer. Letters run A-J (MMLU-Pro style) unless the number of choices is given.

`lenient=True` (the audit's second opinion) reads a hedge as its first letter and, in a reply that states no
choice at all, falls back to weaker signals: the last `(C)` / `[C]` / `**C**` in the region (lm-eval's
`flexible-extract`), `it's C` without a cue, a letter opening the reply, the last capital letter token of
the last line, a choice's text anywhere in the last line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple, TypeVar

from r1eval.grading.math_normalize import closed_boxes
from r1eval.reasoning import answer_region

T = TypeVar("T")
LETTERS = "ABCDEFGHIJ"  # MMLU-Pro has ten choices; GPQA four
MCQ_GRADER_VERSION = "2"  # bump whenever a verdict can change; recorded in config.json and summary.json


class Extraction(NamedTuple):
    """The chosen letter (None when the reply states none) and how it was found (or why not)."""

    letter: str | None
    how: str


# ---------------------------------------------------------------------------------------------------
# cleaning: length-preserving, so positions stay comparable across patterns

_FULLWIDTH = str.maketrans({**{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                            **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
                            "（": "(", "）": ")", "：": ":", "．": ".", "，": ","})
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|texttt|textrm|mathrm|mathbf|mathit|mathsf|emph|mbox)\s*\{([^{}]*)\}")
_MARKUP = re.compile(r"[\u200b-\u200d\ufeff\u3164\u115f\u1160]|\*+|(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])|</?(?:b|strong|em|i)>|`+|\\[,;:! ]|\\quad|\\qquad")


def _clean(text: str) -> str:
    """Fullwidth forms to ASCII; markdown emphasis, HTML bold, backticks and LaTeX text wrappers blanked
    out (replaced by spaces of the same length)."""
    text = text.translate(_FULLWIDTH)
    for _ in range(3):  # nested wrappers: \text{\textbf{C}}
        text = _TEXT_WRAPPER.sub(lambda m: " " * (m.start(1) - m.start()) + m.group(1) + " ", text)
    return _MARKUP.sub(lambda m: " " * len(m.group()), text)


# ---------------------------------------------------------------------------------------------------
# reading a letter (or a choice's text) at the start of a piece of text

# words and signs allowed between an answer cue and the letter: "is", ":", "therefore", "option", "$", ...
_FILLER = re.compile(r"""(?ix)(?:
      [\s:\-–—=>→.,;'"“”‘’「」『』【】$]+
    | \\boxed\s*\{ | \\fbox\s*\{ | \\\( | \\\[ | \{
    | (?:is|are|was|be|would\s+be|should\s+be|must\s+be|will\s+be|seems\s+to\s+be|appears\s+to\s+be
        |therefore|thus|hence|so|clearly|definitely|certainly|for\s+sure|indeed|then|here|now|finally
        |probably|likely|most\s+likely|either|between|option|choice|letter|answer|the|my|final|correct|right
        |best|one|i\s+think|i\s+believe|i\s+would\s+say|i'd\s+say|it's|it\s+is|that's|that\s+is|we\s+get
        |est|la|le|es|é|è|ist|lautet|die|der|adalah|ialah|là|ni|richtige|correcte|correcta|correta
        |corretta|bonne|finale|la\s+opción|l'option|opción|opção|opzione|choix|yang\s+benar|yang\s+tepat
        |donc|alors|ainsi|daher|also|somit|deshalb|folglich|portanto|logo|entonces|por\s+lo\s+tanto|quindi
        |dunque|pertanto|a(?=\s+(?-i:[A-J])\b))\b
    | 是 | 为 | 為 | 应该是 | 應該是 | 应为 | 應為 | 应该选 | 选项 | 選項 | 选 | 選 | は | 은 | 는 | 이 | هي | :
    )*""")
# after "A"/"I" (or any lowercase letter) a following word makes it an article/pronoun, unless it is one
# of these, which follow a stated choice: "Answer: A because ...", "the answer is a, since ..."
_AFTER_LETTER_WORDS = {"because", "since", "as", "is", "was", "which", "given", "due", "based", "here", "for",
                       "from", "in", "so", "then", "not", "non", "nicht", "no"}
_NATIVE_LETTERS = {"أ": "A", "ب": "B", "ج": "C", "د": "D", "অ": "A", "ব": "B", "ড": "C", "ঢ": "D"}
_NEGATION_BEFORE = re.compile(r"(?i)(?:\bnot|n't|\bnor|\bneither|\bnever|\bcannot|\bexcept|\bunless|\bif|\bwhether"
                              r"|\bthan|\bexcluding|\brules?\s+out|\bruled\s+out|不是|不|非)"
                              r"(?:\s+(?:be|is|the|option|choice))*\s*[(\[]?$")


@lru_cache(maxsize=16)
def _letter_at(n: int) -> re.Pattern[str]:
    letters = LETTERS[:n]
    return re.compile(rf"""(?x)
        (?P<open>[(\[<「【]\s*)?
        (?P<letter>[{letters}{letters.lower()}]|[أبجدঅবডঢ])
        (?P<close>\s*[)\]>」】])?
        """)


_HEDGE_TAIL = re.compile(r"""(?ix)^(?:
      (?:\s*,\s*[(\[]?(?-i:[A-J])[)\]]?(?![A-Za-z0-9]))*
      \s*(?:or|and|/|&|或者?|还是|和|ou|o|oder|et|y|e)\s*(?:option\s+|choice\s+)?[(\[]?(?P<other>(?-i:[A-J]))[)\]]?
      (?![A-Za-z0-9])
    | (?:\s*,\s*[(\[]?(?-i:[A-J])[)\]]?)+\s*(?:$|[.;\n]))""")
_HEDGE_BEFORE = re.compile(r"(?i)(?-i:[A-J])[)\]]?\s*(?:or|and|/|或者?|还是|和)\s*(?:option\s+|choice\s+)?[(\[]?$")


def _is_hedge(after: str) -> bool:
    """Whether the text after a letter names another choice beside it ("A or B", "B/C", "A, C and D")."""
    m = _HEDGE_TAIL.match(after)
    if not m:
        return False
    return not (m.group("other") and m.group("other") in "AI" and re.match(r" [a-z]", after[m.end():]))  # "C and I think ..."


class _Read(NamedTuple):
    letter: str
    start: int  # offset of the letter in the text read
    hedge: bool


def _read_letter(text: str, n: int, skip_filler: bool = True) -> _Read | None:
    """A choice letter at the start of `text` (after filler words when `skip_filler`), or None.

    The letter must stand alone: not part of a word, a formula (`E = mc^2`, `E'`) or a negation."""
    pos = _FILLER.match(text).end() if skip_filler else 0
    m = _letter_at(n).match(text, pos)
    if not m or _NEGATION_BEFORE.search(text[:m.start()]):
        return None
    raw = m.group("letter")
    letter = _NATIVE_LETTERS.get(raw, raw).upper()
    after = text[m.end():]
    quoted = text[m.start() - 1:m.start()] in ("'", '"', "‘", "“", "`") and after[:1] in ("'", '"', "’", "”", "`")
    bracketed = bool(m.group("open") or m.group("close")) or quoted
    if raw in _NATIVE_LETTERS:
        if re.match(r"[\u0600-\u06FF\u0980-\u09FF]", after):
            return None  # part of an Arabic / Bengali word
        return _Read(letter, m.start("letter"), False)
    if raw.isupper() and _is_hedge(after):
        return _Read(letter, m.start("letter"), True)
    if bracketed:
        return _Read(letter, m.start("letter"), False)
    if re.match(r"[A-Za-z0-9'’^_=+*/\\]|[-−]\S|[.]\w|\s*[=<>^+*/]", after):
        return None  # a word ("Answer: Jupiter"), "C.elegans", a primed or subscripted symbol, a formula
    word = re.match(r"[ \t]+([A-Za-z][a-z]*)", after)
    if word:
        follows = word.group(1)
        if (raw in "AI" or raw.islower()) and follows.islower() and follows not in _AFTER_LETTER_WORDS:
            return None  # the article "A shift ...", the pronoun "I think ...", "a function of ..."
    elif raw.islower() and not re.match(r"\s*(?:$|[.,;:!?)\]}$\"'”’」]|\n)", after):
        return None  # a lowercase letter counts on its own only: "answer: (c)", "the answer is b."
    return _Read(letter, m.start("letter"), False)


@lru_cache(maxsize=4096)
def _normalize_text(text: str, level: int = 2) -> str:
    """Choice text for comparison: single spaces, no end punctuation; from level 1 also no LaTeX braces,
    dollars and backslashes; at level 2 also lowercase. (Choices may differ only in case or markup.)"""
    if level >= 1:
        text = re.sub(r"[$\\{}]|\\(?:left|right)", "", text.lower() if level >= 2 else text)
    return re.sub(r"\s+", " ", text).strip(" .;:,!")


def _matching_choice(text: str, choices: Sequence[str] | None) -> int | None:
    """Index of the one choice whose text `text` states: equal after normalising (as little as tells the
    choices apart), or equal to the first line of a multi-line choice, else the only one it contains as a
    whole phrase."""
    if not choices or not text.strip():
        return None
    for level in (0, 1, 2):
        said = _normalize_text(text, level)
        texts = [_normalize_text(c, level) for c in choices]
        equal = [j for j, t in enumerate(texts) if t and t == said]
        if len(equal) == 1:
            return equal[0]
        first_lines = [j for j, c in enumerate(choices)
                       if "\n" in c.strip() and _normalize_text(c.strip().split("\n", 1)[0], level) == said]
        if len(first_lines) == 1 and len(said) >= 8:
            return first_lines[0]
    contained = [j for j, t in enumerate(texts)
                 if t and re.search(rf"(?<![\w.]){re.escape(t)}(?![\w])", said)]
    # a choice that is part of a longer contained choice ("5" in "5 eV") does not count separately
    contained = [j for j in contained if not any(k != j and texts[j] in texts[k] for k in contained)]
    return contained[0] if len(contained) == 1 else None


# ---------------------------------------------------------------------------------------------------
# where choices are stated

_ANSWER_CUE = re.compile(r"""(?ix)
      \b(?:final\s+|correct\s+|right\s+|best\s+|my\s+|the\s+)*answers?\b
        (?:\s+(?:to|for|of)\s+(?:this|the|that|our)\s+(?:multiple[-\s]choice\s+)?(?:question|problem))?
        (?:\s+(?:choice|option|letter))?
    | \b(?:correct|right|best|final|only\s+correct)\s+(?:option|choice|letter|response|one|pick)\b
    | \b(?:I|we)(?:'ll|\s+will|'d|\s+would|\s+should)?\s+(?:choose|select|pick|go\s+with|opt\s+for)\b
    | \bmy\s+(?:choice|pick|selection)\b
    | (?:正确|正確|最终|最終|参考)?(?:答案|答(?=\s*:)) | (?:正确|正確)(?:选项|選項) | 所以(?:答|选|選) | 故[选選] | 应选 | (?:我)?(?:选择|選擇) | 选(?!项|择) | 選(?!項|擇)
    | 答[曰复] | 答え | 正解 | 解答 | 回答 | 정답 | 답변 | 답(?=\s*:)
    | \b(?:la\s+)?(?:bonne\s+)?r[ée]ponse\b | \bje\s+choisis\b
    | \brespuesta\b | \bresposta\b | \brisposta\b | \bantwort\b | \bl[öo]sung\b | \bantwoord\b
    | \b(?:alternativa|opç[ãa]o|opci[óo]n|opzione)\s+(?:correta|correcta|corretta|certa)\b
    | (?<![А-Яа-яЁё])(?:правильный\s+)?ответ(?![А-Яа-яЁё]) | \bjawaban(?:nya)?\b | \bcevap\b | \byan[ıi]t\b
    | đáp\s+án | câu\s+trả\s+lời | \bjibu\b | \bodpowied[źz]\b | [ÌIìi]d[áa]h[ùu]n | Àdáhùn | Àmọ̀nà | Ànúgọ | Àṣàyàn
    | الإجابة(?:\s+الصحيحة|\s+النهائية)? | الجواب(?:\s+النهائي)? | إجابة | उत्तर | উত্তর(?:ঃ)?
    """)

# a letter declared right: "(C) is correct", "C is the correct answer", "B 是正确的", "C est la bonne réponse"
_DECLARED_RIGHT = re.compile(r"""(?ix)
    (?<![A-Za-z0-9'])(?:option\s+|choice\s+|选项\s*|選項\s*)?[(\[]?(?P<letter>(?-i:[A-J]))[)\]]?
    (?:\s*(?:is|would\s+be|must\s+be|seems\s+to\s+be)\s+(?:the\s+|my\s+|our\s+|indeed\s+|clearly\s+)?
        (?:correct|right|best|final\s+|most\s+(?:likely|plausible|appropriate|accurate|consistent|reasonable)\s+)?
        (?:answer|correct|right|best|choice|option)\b(?!\s+only)
      | \s*[:\-–—]\s*(?:correct|right|true)\b(?!\s*\?)
      | \s*(?:项|項)?\s*(?:是|为|為)?\s*(?:正确|正確)(?:的|答案)?
      | \s+est\s+(?:la\s+)?(?:bonne|correcte|juste)
      | \s+es\s+(?:la\s+)?(?:correcta|respuesta\s+correcta)
      | \s+ist\s+(?:die\s+)?(?:richtig|korrekt))""")

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)  # the R1-Zero template
_BARE_LINE = re.compile(r"""(?ix)^[\s$({\[]*
    (?:(?:so|thus|hence|therefore|definitely|clearly|certainly|finally|final\s+answer|answer|option|choice)[\s,:]+)*
    [(\[]?\s*([A-J])\s*[)\]]?[\s.:;!)}\]$]*$""")
_LETTER_WITH_TEXT = re.compile(r"(?i)^\s*(?:option\s+|choice\s+)?(?:\(((?-i:[A-J]))\)|((?-i:[A-J]))\))[:.]?\s+\S")
_LINE_ENDS_ON_LETTER = re.compile(r"""(?ix)
    (?:(?:[:\-–—→]|\bis|\bit's|\bbe|\bleaving|\bleaves|\bremains|\bsay)\s*
        (?:(?:therefore|thus|hence|clearly|indeed|definitely|then|option|choice)\s+)*[(\[]?(?P<letter>(?-i:[A-J]))[)\]]?
      | \((?P<paren>(?-i:[A-J]))\))
    [\s.!$]*$""")
# "A) is wrong ...": a line about an option, not a choice of it
_ABOUT_THE_OPTION = re.compile(r"(?i)\s*(?:is|are|was|seems|looks|would|could|can|cannot|can't|isn't|doesn't|does|"
                               r"fails|must|might|may|should|has|had|contradicts|ignores|violates)\b")
_LINE_OPENS_WITH_LETTER = re.compile(r"^\s*[(\[]?([A-Ja-j])(?:[)\]]|[.:,。]|(?=[\u3000-\u9fff]))")


class _Candidate(NamedTuple):
    pos: int
    letter: str | None  # None: a hedge
    how: str


_CONNECTOR = re.compile(r"(?i)^\s*(?:(?:is|are|was|would\s+be|will\s+be|must\s+be|should\s+be|est|es|ist|[:=是为為])\s*)+")


def _stated(text: str, pos: int, how: str, n: int, choices: Sequence[str] | None,
            lenient: bool) -> _Candidate | None:
    """The candidate stated by `text` (a cue's tail or a box's content), or None. A text that is exactly one
    choice's text is that choice even when it opens like a letter ("A Jupiter-mass planet")."""
    read = _read_letter(text[:_TAIL_CHARS], n)
    if choices and (read is None or _normalize_text(text[read.start + 1:]).strip("()[]")):
        for said in (text, _CONNECTOR.sub("", text, count=1), _FILLER.sub("", text[:_LINE_CHARS], count=1)):
            exact = _matching_choice(said, choices)
            if exact is not None and exact < n and _normalize_text(said) == _normalize_text(choices[exact]):
                return _Candidate(pos, LETTERS[exact], f"{how} (choice text)")
    if read is not None:
        if read.hedge and not lenient:
            return _Candidate(pos, None, f"{how}: hedged between choices")
        return _Candidate(pos, read.letter, how)
    j = _matching_choice(text, choices)
    if j is None:  # "Answer: the largest one, Jupiter" vs a choice that itself starts with a filler word
        j = _matching_choice(_FILLER.sub("", text[:_LINE_CHARS], count=1), choices)
    if j is not None and j < n:
        return _Candidate(pos, LETTERS[j], f"{how} (choice text)")
    return None


_MAX_TRIES = 64  # matches of one kind read from the end of a reply
_TAIL_CHARS = 240  # a letter is stated right after its cue
_LINE_CHARS = 2000  # a choice's text may be long
_CLAUSE_END = re.compile(r"[.?!。！？](?!\d)|\n")
_CLAUSE_VERB = re.compile(r"(?i)\b(?:is|would\s+be|should\s+be|must\s+be|will\s+be|lautet|est|es|ist)\b|[:=是为為]")


def _clause_tails(text: str, end: int) -> list[int]:
    """Where a cue's answer may start: right after the cue, or after a later "is" / ":" in the same clause
    within 80 characters ("The answer to this question, after checking the units, is C")."""
    stop = _CLAUSE_END.search(text, end, end + 80)
    window_end = stop.start() if stop else min(len(text), end + 80)
    return [end] + [v.end() for v in _CLAUSE_VERB.finditer(text, end, window_end)]


def _cue_tail(text: str, end: int) -> str:
    """The rest of the cue's line, or the next non-empty line when the cue ends its line (at most
    `_LINE_CHARS` characters)."""
    line_end = text.find("\n", end, end + _LINE_CHARS)
    tail = text[end:end + _LINE_CHARS] if line_end < 0 else text[end:line_end]
    if line_end >= 0 and not tail.strip(" \t:：-–—*$"):
        tail = text[line_end:line_end + 2 * _LINE_CHARS].lstrip().split("\n", 1)[0][:_LINE_CHARS]
    return tail


def _candidates(text: str, n: int, choices: Sequence[str] | None, lenient: bool) -> list[_Candidate]:
    """The last candidate of each kind (only the last stated choice can win), found by reading each kind's
    matches from the end, at most `_MAX_TRIES` of them (a bound for pathological replies)."""
    found: list[_Candidate] = []

    def last_of(matches: Iterable[T], read: Callable[[T], _Candidate | None]) -> None:
        for m in itertools.islice(reversed(list(matches)), _MAX_TRIES):
            cand = read(m)
            if cand:
                found.append(cand)
                return

    def cue(m: re.Match[str]) -> _Candidate | None:
        for end in _clause_tails(text, m.end()):
            cand = _stated(_cue_tail(text, end), m.start(), "answer cue", n, choices, lenient)
            if cand:
                return cand
        return None

    def declared(m: re.Match[str]) -> _Candidate | None:
        letter, before = m.group("letter"), text[max(0, m.start() - 16):m.start()]
        if LETTERS.index(letter) >= n or _NEGATION_BEFORE.search(before):
            return None
        hedged = _HEDGE_BEFORE.search(before) and not lenient
        return _Candidate(m.start(), None if hedged else letter,
                          "declared correct" + (": hedged between choices" if hedged else ""))

    last_of(_ANSWER_CUE.finditer(text), cue)
    last_of(_DECLARED_RIGHT.finditer(text), declared)
    last_of(closed_boxes(text), lambda box: _stated(box.content[:_LINE_CHARS], box.start, "boxed", n, choices, lenient))
    last_of(_ANSWER_TAG.finditer(text),
            lambda m: _stated(m.group(1)[:_LINE_CHARS], m.start(), "<answer> tag", n, choices, lenient))
    found.extend(_line_candidates(text, n, choices))
    return found


def _line_candidates(text: str, n: int, choices: Sequence[str] | None) -> list[_Candidate]:
    """Candidates from the shape of the reply's last and first lines."""
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    if not lines:
        return []
    out = []
    last_pos, last = lines[-1]
    bare = _BARE_LINE.match(last)
    with_text = _LETTER_WITH_TEXT.match(last)
    ends = _LINE_ENDS_ON_LETTER.search(last)
    if bare and LETTERS.index(bare.group(1).upper()) < n:
        out.append(_Candidate(last_pos, bare.group(1).upper(), "last line"))
    elif with_text and _states_its_choice(with_text, lines, choices, n):
        out.append(_Candidate(last_pos, with_text.group(1) or with_text.group(2), "last line"))
    elif ends and _ends_on_choice(last, ends, n):
        out.append(_Candidate(last_pos + ends.start(), ends.group("letter") or ends.group("paren"), "end of last line"))
    elif choices and (j := _matching_choice(last, choices)) is not None and j < n \
            and _normalize_text(last) == _normalize_text(choices[j]):
        out.append(_Candidate(last_pos, LETTERS[j], "last line (choice text)"))
    # the first line opening with a letter ("D. it can't be A or B"), when no other line opens with one
    first_pos, first = lines[0]
    opens = _LINE_OPENS_WITH_LETTER.match(first)
    if opens and sum(bool(_LINE_OPENS_WITH_LETTER.match(ln)) for _, ln in lines) == 1 \
            and not _ABOUT_THE_OPTION.match(first, opens.end()):
        read = _read_letter(first, n, skip_filler=False)
        if read and not read.hedge:
            out.append(_Candidate(first_pos, read.letter, "first line"))
    return out


def _ends_on_choice(line: str, m: re.Match[str], n: int) -> bool:
    """Whether a last line ending on a letter (`...: B`, `so it's B`, `... I'd say (C)`) states it: not a
    negation (`it can't be B`) nor the end of a hedge (`(A) or (C)`)."""
    letter = m.group("letter") or m.group("paren")
    before = line[:m.start("letter") if m.group("letter") else m.start("paren")]
    return LETTERS.index(letter) < n and not _NEGATION_BEFORE.search(before) and not _HEDGE_BEFORE.search(before)


def _states_its_choice(m: re.Match[str], lines: list[tuple[int, str]], choices: Sequence[str] | None,
                       n: int) -> bool:
    """Whether a last line `(C) text` states choice C (not one line of a listing, not "(C) is wrong")."""
    letter = m.group(1) or m.group(2)
    if LETTERS.index(letter) >= n or (len(lines) > 1 and _LETTER_WITH_TEXT.match(lines[-2][1])):
        return False
    rest = lines[-1][1][m.end() - 1:]
    if choices:
        return _normalize_text(rest).startswith(_normalize_text(choices[LETTERS.index(letter)]) or "\0")
    return not re.match(r"[a-z]", rest)  # "(C) Jupiter", "(C) 10^-8 eV"; not "(C) is ruled out"


_PAREN_LETTER = re.compile(r"(?<![A-Za-z0-9\\])[(\[]\s*([A-J])\s*[)\]](?![A-Za-z0-9])")
_BOLD_LETTER = re.compile(r"\*\*\s*\(?([A-J])\)?\s*\*\*")
_CUELESS = re.compile(r"(?i)\b(?:it's|it\s+is|it\s+must\s+be|i\s+think|i'd\s+say|so)\s+(?:option\s+)?[(\[]?((?-i:[A-J]))[)\]]?(?![A-Za-z0-9])")


def _lenient_candidates(text: str, raw: str, n: int, choices: Sequence[str] | None) -> list[_Candidate]:
    """Weaker signals, for a reply that states no choice: any `(C)`/`[C]`/`**C**`, `it's C`, a letter
    opening the reply, the last capital letter token of the last line, a choice's text in the last line."""
    out = [_Candidate(m.start(), m.group(1), "lenient: bold letter")
           for m in _BOLD_LETTER.finditer(raw) if LETTERS.index(m.group(1)) < n]
    out += [_Candidate(m.start(), m.group(1), "lenient: parenthesised letter")
           for m in _PAREN_LETTER.finditer(text) if LETTERS.index(m.group(1)) < n]
    out += [_Candidate(m.start(), m.group(1).upper(), "lenient: cue-less statement")
            for m in _CUELESS.finditer(text) if m.group(1).upper() in LETTERS[:n]]
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    if lines:
        pos, first = lines[0]
        read = _read_letter(first.lstrip(), n, skip_filler=False)
        if read:
            out.append(_Candidate(pos, read.letter, "lenient: reply opens with a letter"))
        pos, last = lines[-1]
        tokens = [m for m in re.finditer(r"(?<![A-Za-z0-9'])([A-J])(?![A-Za-z0-9'])", last)
                  if LETTERS.index(m.group(1)) < n and not (m.group(1) in "AI" and re.match(r" [a-z]", last[m.end():]))]
        if tokens:
            out.append(_Candidate(pos + tokens[-1].start(), tokens[-1].group(1), "lenient: last letter of last line"))
        elif (j := _matching_choice(last, choices)) is not None and j < n:
            out.append(_Candidate(pos, LETTERS[j], "lenient: choice text in last line"))
    return out


def gold_letter(gold: object) -> str | None:
    """A gold answer as a letter: `C`, `(C)`, `c`, `C) Jupiter`, `(C) Jupiter`; else the choice a gold
    written as text states (`... the answer is (C) Jupiter`)."""
    text = str(gold if gold is not None else "").strip()
    m = re.match(r"[(\[]?([A-Ja-j])[)\].:]?(?:\s|$)", text)
    if m:
        return m.group(1).upper()
    return extract_choice(text).letter if text else None


def extract_choice(completion: str, choices: Sequence[str] | None = None, *, num_choices: int | None = None,
                   lenient: bool = False) -> Extraction:
    """The letter a completion chose, as shown to the model, and how it was found.

    `choices`: the choice texts in the order shown (A first), to read answers given as text; the number
    of letters is `num_choices`, else len(choices), else 10 (A-J). `lenient`: also read weaker signals
    (see the module docstring); the bench grades strictly, the audit compares both."""
    region = answer_region(completion)
    if region is None:
        return Extraction(None, "reasoning never closed (no </think>)")
    n = num_choices or (len(choices) if choices else len(LETTERS))
    n = max(1, min(n, len(LETTERS)))
    text = _clean(region)
    choices = [_clean(c) for c in choices] if choices else None  # compared with the cleaned reply
    found = _candidates(text, n, choices, lenient)
    if lenient and not found:  # weaker signals only where no answer is stated
        found = _lenient_candidates(text, region.translate(_FULLWIDTH), n, choices)
    if not found:
        return Extraction(None, "no answer found")
    pos, letter, how = max(found, key=lambda c: c.pos)
    return Extraction(letter, how)
