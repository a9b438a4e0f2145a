"""The finished samples of a run as its summary needs them: every field but the text.

A MATH-500 x 64 run at the R1 protocol holds ~900 MB of completions; summary.json needs of each completion
only two facts (did the reasoning close, does it mix languages). `SampleSet.add` works them out once, when
the sample is read back or appended, and keeps a copy without prompt and completion, so the end-of-run
summary neither re-reads samples.jsonl nor holds its text.

`summary_key` fingerprints what a summary was computed from (samples.jsonl's size and modification time, n,
the problems, the summary format), so resuming a finished run reuses its summary.json instead of
recomputing it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from r1eval.records import Sample

SUMMARY_FORMAT = 3  # bump when summary.json gains or changes a computed field


def text_flags(completion: str) -> tuple[bool, bool]:
    """(reasoning never closed, reasoning mixes languages) of one completion: what `summarize` reads of it."""
    from r1eval.grading.language import mixed_language
    from r1eval.reasoning import split_reasoning

    reasoning, answer, _ = split_reasoning(completion)
    return answer is None, mixed_language(reasoning)


class SampleSet:
    """Light copies of a run's samples by (problem id, sample index), the last written winning, with the
    text flags of each."""

    def __init__(self, with_flags: bool = True) -> None:
        self.samples: dict[tuple[str, int], Sample] = {}
        self.flags: dict[tuple[str, int], tuple[bool, bool]] = {}
        self.with_flags = with_flags  # off: keys and verdicts only (a finished run whose summary is current)

    def add(self, sample: Sample) -> Sample:
        """Keep a copy of `sample` without its prompt and completion; returns it."""
        key = (sample.problem_id, sample.sample_index)
        if self.with_flags:
            self.flags[key] = text_flags(sample.completion or "")
        else:
            self.flags.pop(key, None)
        light = replace(sample, prompt="", completion="")
        self.samples[key] = light
        return light

    def fill_flags(self, samples_path: Path) -> None:
        """Work out the text flags of the samples read without them (one more pass over samples.jsonl, made
        only when a summary has to be computed)."""
        from r1eval.rundir import iter_rows

        missing = set(self.samples) - set(self.flags)
        if not missing:
            return
        for _, row in iter_rows(samples_path):
            key = (row.get("problem_id"), row.get("sample_index"))
            if key in missing:
                self.flags[key] = text_flags(row.get("completion") or "")  # type: ignore[index]

    def keys(self) -> set[tuple[str, int]]:
        return set(self.samples)

    def select(self, problem_ids: set[str], n: int) -> list[Sample]:
        """The samples of these problems with sample_index < n."""
        return [s for (pid, idx), s in self.samples.items() if pid in problem_ids and idx < n]


def summary_key(samples_path: Path, n: int, problem_ids: list[str], extra: Any = None) -> str:
    """Fingerprint of what a summary is computed from; equal keys mean summary.json is still current."""
    try:
        st = os.stat(samples_path)
        size, mtime = st.st_size, st.st_mtime_ns
    except FileNotFoundError:
        size, mtime = 0, 0
    payload = json.dumps([SUMMARY_FORMAT, size, mtime, n, problem_ids, extra], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def current_summary(summary_path: Path, key: str) -> dict[str, Any] | None:
    """summary.json when it was computed from exactly this (its `summary_key` equals `key`), else None."""
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) and summary.get("summary_key") == key else None
