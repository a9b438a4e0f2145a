"""Math grading: read the answer after `</think>`, normalise it, compare it with the gold; memo and pool.

The concerns live in their own modules; this one grades many pairs and re-exports the public names.
- `math_extract`: the answer region, where the answer is (boxes, statements, math-verify's fallbacks), golds.
- `math_normalize`: string work only: the one `\\boxed{` scanner, final-answer statements, LaTeX clean-up.
- `math_compare`: `answers_match(gold, answer)`: strings, literals, constants, then math-verify with guards.
- `math_exact`: constants by value, exactly at any magnitude, in bounded time.

Verdicts are memoised by (located answer, gold), so the 64 samples of a problem that mostly repeat a few
answers are compared a few times; distinct pairs are graded in-process, and what is left after a few seconds
goes to a process pool. Parsing and each comparison run under timeouts; grading never raises.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any

from r1eval.grading.math_compare import answers_equivalent, answers_match, parse_answer
from r1eval.grading.math_extract import (
    CUT_IN_BOX,
    Extraction,
    extract_answer,
    gold_answer,
    locate_answer,
    normalize_gold,
    read_answer,
)
from r1eval.grading.math_normalize import closed_boxes
from r1eval.records import Verdict
from r1eval.workers import chunks, default_workers, process_pool

__all__ = ["MATH_GRADER_VERSION", "Extraction", "MathGrader", "answers_equivalent", "answers_match",
           "extract_answer", "gold_answer", "last_boxed", "normalize_gold"]

MATH_GRADER_VERSION = "4"  # bump whenever a verdict can change; recorded in config.json and summary.json
_POOL_MIN_ITEMS = 64  # below this many unique pairs, grading in-process beats handing work to workers
_POOL_AFTER_S = 5.0  # grade in-process this long before handing the rest to the pool (whose start-up, with
# math-verify imported in each worker, takes 1-2 s and more on a loaded machine)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (balanced braces), or None."""
    boxes = closed_boxes(text)
    return boxes[-1].content if boxes else None




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
            if key[0] == CUT_IN_BOX:
                verdicts.append(Verdict(None, False, {"reason": "no answer (the reply ends inside an unclosed box)"}))
            elif extracted is None:
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
