"""Math grading with math-verify: answer region, last \\boxed{}, memo, process pool.

Pipeline for one completion:
1. `answer_region`: the text after the last `</think>`; if `<think>` was opened but never closed the
   reply was cut inside its reasoning and has no answer.
2. `last_boxed`: the content of the last `\\boxed{...}` / `\\fbox{...}` in that region. When there is
   one, only `\\boxed{content}` is handed to math-verify; otherwise the whole region is, and
   math-verify's own fallbacks (other LaTeX, plain expressions) apply.
3. math-verify `parse` + `verify` against the gold, each with a timeout.

Results are memoised by (answer key, gold), so the 64 samples of a problem that mostly repeat a few
answers are verified a few times, and the unique pairs are verified in a process pool.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from typing import Any

from r1eval.records import Verdict

MATH_GRADER_VERSION = "1"  # bump whenever a verdict can change; recorded in config.json and summary.json
PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5
_POOL_MIN_ITEMS = 64  # below this many unique pairs, grading in-process beats handing work to workers

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def answer_region(completion: str) -> str | None:
    """The text the answer is taken from: after `</think>` when present; None if reasoning never closed."""
    if "</think>" in completion:
        return completion.rsplit("</think>", 1)[1]
    if "<think>" in completion:
        return None
    return completion


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (balanced braces), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start : i - 1].strip()
    return None


def answer_key(completion: str) -> tuple[str, str] | None:
    """What math-verify will see for this completion: ("boxed", content) or ("text", region)."""
    region = answer_region(completion)
    if region is None or not region.strip():
        return None
    boxed = last_boxed(region)
    if boxed is not None:
        return ("boxed", boxed)
    return ("text", region[-4000:])  # math-verify's fallbacks look at the end of the reply


def normalize_gold(answer: Any) -> str:
    """Gold answers as strings: 27.0 -> "27", 0.5 -> "0.5"."""
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return str(answer).strip()


@lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    text = gold if "\\boxed" in gold else f"\\boxed{{{gold}}}"
    parsed = parse(text, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
                   parsing_timeout=PARSE_TIMEOUT_S)
    if not parsed:  # e.g. a plain-text gold: compare as text
        parsed = parse(f"${gold}$", parsing_timeout=PARSE_TIMEOUT_S) or [gold]
    return parsed


def _parse_prediction(key: tuple[str, str]) -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    kind, text = key
    if kind == "boxed":
        text = f"\\boxed{{{text}}}"
    return parse(text, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
                 parsing_timeout=PARSE_TIMEOUT_S)


def _extracted_text(pred: list, key: tuple[str, str]) -> str | None:
    if not pred:
        return key[1] if key[0] == "boxed" and key[1] else None
    return key[1] if key[0] == "boxed" else str(pred[-1])


def grade_key(key: tuple[str, str], gold: str) -> tuple[str | None, bool]:
    """Grade one answer key against one gold: (extracted answer, correct). Never raises."""
    from math_verify import verify

    try:
        pred = _parse_prediction(key)
        extracted = _extracted_text(pred, key)
        if not pred:
            return extracted, False
        return extracted, bool(verify(_parse_gold(gold), pred, timeout_seconds=VERIFY_TIMEOUT_S))
    except Exception:  # math-verify can raise on exotic input despite raise_on_error=False
        return (key[1] if key[0] == "boxed" else None), False


def _grade_keys(pairs: list[tuple[tuple[str, str], str]]) -> list[tuple[str | None, bool]]:
    return [grade_key(k, g) for k, g in pairs]


@lru_cache(maxsize=65536)
def _parse_answer(answer: str) -> tuple:
    """An extracted answer parsed once (cons@n compares every answer with several class representatives)."""
    return tuple(_parse_prediction(("boxed", answer)))


def answers_equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers are mathematically equal (math-verify, both directions tried)."""
    if a == b:
        return True
    try:
        from math_verify import verify

        pa, pb = list(_parse_answer(a)), list(_parse_answer(b))
        if not pa or not pb:
            return False
        return bool(verify(pa, pb, timeout_seconds=VERIFY_TIMEOUT_S)) or bool(
            verify(pb, pa, timeout_seconds=VERIFY_TIMEOUT_S))
    except Exception:
        return False


class MathGrader:
    """Grades (completion, gold) pairs: memoised by (answer key, gold), unique pairs in a process pool."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 1))
        self._memo: dict[tuple[tuple[str, str], str], tuple[str | None, bool]] = {}
        self._equiv_memo: dict[tuple[str, str], bool] = {}
        self._pool: ProcessPoolExecutor | None = None

    def grade(self, items: Sequence[tuple[str, Any]]) -> list[Verdict]:
        """Grade (completion, gold answer) pairs, in order."""
        keys = [(answer_key(c), normalize_gold(g)) for c, g in items]
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
            detail = {} if extracted is not None else {"reason": "no parsable answer"}
            verdicts.append(Verdict(extracted, correct, detail))
        return verdicts

    def equivalent(self, a: str, b: str) -> bool:
        """Memoised `answers_equivalent`."""
        pair = (a, b) if a <= b else (b, a)
        if pair not in self._equiv_memo:
            self._equiv_memo[pair] = answers_equivalent(*pair)
        return self._equiv_memo[pair]

    def _run(self, pairs: list[tuple[tuple[str, str], str]]) -> list[tuple[str | None, bool]]:
        if len(pairs) < _POOL_MIN_ITEMS or self.workers == 1:
            return _grade_keys(pairs)
        self.start_pool()
        assert self._pool is not None
        chunk = max(1, len(pairs) // (self.workers * 4))
        chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
        return [r for part in self._pool.map(_grade_keys, chunks) for r in part]

    def start_pool(self) -> None:
        """Start the worker processes (call early to overlap their start with model loading).

        Workers fork from a forkserver that has imported math-verify once, so they start fast and never
        inherit the parent's torch threads."""
        if self._pool is None and self.workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["math_verify", "r1eval.grading.math"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
            for _ in self._pool.map(_grade_keys, [[] for _ in range(self.workers)]):
                pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
