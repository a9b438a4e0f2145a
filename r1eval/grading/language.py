"""Language consistency, as DeepSeek-R1 defines its reward: the share of the chain of thought's words
that are in the target language. Shared by the RL reward (`rl/`) and the distillation filter (`distill/`).

Words are classified by script: runs of Latin letters are one word each ("en" and other Latin-script
languages), every CJK ideograph or kana is one word ("zh"/"ja"), runs of Cyrillic, Greek, Arabic, Hangul,
Devanagari letters likewise. Digits, punctuation, LaTeX commands (`\\frac`) and single Latin letters
(math variables such as x, n) are not words of any language and do not count.
"""

from __future__ import annotations

import re

# one regex alternative per script; the group name is the script
_SCRIPT_WORDS = {"latin": "[A-Za-z\u00C0-\u024F]{2,}", "cjk": "[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]",
                 "hangul": "[\uAC00-\uD7AF]+", "cyrillic": "[\u0400-\u04FF]+", "greek": "[\u0370-\u03FF]{2,}",
                 "arabic": "[\u0600-\u06FF]+", "devanagari": "[\u0900-\u097F]+"}
_WORD = re.compile(r"\\[A-Za-z]+"  # LaTeX command: skipped
                   + "".join(f"|(?P<{script}>{pattern})" for script, pattern in _SCRIPT_WORDS.items()))
# the other scripts' words only: the scripts' letters are disjoint, so these are exactly _WORD's non-Latin matches,
# found without stepping through every Latin word of a long chain of thought
_NON_LATIN_WORD = re.compile("|".join(f"(?P<{script}>{pattern})" for script, pattern in _SCRIPT_WORDS.items()
                                      if script != "latin"))
LANGUAGE_SCRIPTS = {"en": "latin", "zh": "cjk", "ja": "cjk", "ko": "hangul", "ru": "cyrillic",
                    "el": "greek", "ar": "arabic", "hi": "devanagari"}


def script_word_counts(text: str) -> dict[str, int]:
    """Number of words per script in `text` (LaTeX commands, digits and 1-letter variables excluded)."""
    counts: dict[str, int] = {}
    for m in _WORD.finditer(text):
        if m.lastgroup:
            counts[m.lastgroup] = counts.get(m.lastgroup, 0) + 1
    return counts


def language_consistency(text: str, language: str = "en") -> float:
    """Share in [0, 1] of the words of `text` written in `language`'s script; 0.0 when there are no words."""
    script = LANGUAGE_SCRIPTS.get(language)
    if script is None:
        raise ValueError(f"unsupported language {language!r}; known: {', '.join(LANGUAGE_SCRIPTS)}")
    counts = script_word_counts(text)
    total = sum(counts.values())
    return counts.get(script, 0) / total if total else 0.0


MAX_FOREIGN_WORDS = 2  # more words than this in another script = mixed-language reasoning


def mixed_language(text: str, language: str = "en", max_foreign_words: int = MAX_FOREIGN_WORDS) -> bool:
    """Whether `text` holds more than `max_foreign_words` words in some script other than `language`'s: the
    distillation filter's `mixed_language` check and summary.json's `mixed_language_rate`."""
    target = LANGUAGE_SCRIPTS.get(language)
    if target is None:
        raise ValueError(f"unsupported language {language!r}; known: {', '.join(LANGUAGE_SCRIPTS)}")
    if target == "latin":
        if text.isascii():  # ASCII holds Latin words only: nothing foreign (a C-speed check)
            return False
        counts: dict[str, int] = {}
        for m in _NON_LATIN_WORD.finditer(text):
            counts[m.lastgroup] = counts.get(m.lastgroup, 0) + 1  # type: ignore[index]
            if counts[m.lastgroup] > max_foreign_words:  # type: ignore[index]
                return True
        return False
    return any(script != target and count > max_foreign_words for script, count in script_word_counts(text).items())
