"""Is a run directory complete? What `gate`, the training-time gate and `report`'s paired tests ask before
comparing two runs.

A run is complete when its summary.json exists, is not stale (written for the n and --limit config.json
now asks for) and says `complete: true`. A partial run (killed, still being written, or extended with a
larger -n that did not finish) is refused in one line naming it and how many samples are missing;
`--allow-partial` compares only the problems that have all n samples in both runs, and says so."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.rundir import RunDir, iter_rows

ALLOW_PARTIAL_HINT = ("finish it (rerun its command) or pass `allow_partial` to compare only the problems "
                      "complete in both runs")


@dataclass
class Completeness:
    """How complete one run directory is."""

    path: Path
    n: int | None  # samples per problem config.json asks for
    expected: int | None  # problems x n (None when config.json does not say)
    present: int  # distinct (problem, sample index < n) pairs in samples.jsonl
    complete_problems: set[str] = field(default_factory=set)  # problems with every sample index < n
    problem: str | None = None  # why the run is not complete (None: complete)

    @property
    def complete(self) -> bool:
        return self.problem is None

    @property
    def missing(self) -> int | None:
        return None if self.expected is None else max(0, self.expected - self.present)

    def refusal(self) -> str:
        """The one line refusing this run as a comparison input."""
        missing = (f"{self.missing} of {self.expected} samples missing" if self.expected is not None
                   else f"{self.present} samples present")
        return f"{self.path} is a partial run ({self.problem}; {missing}); {ALLOW_PARTIAL_HINT}"


def run_completeness(run_dir: str | Path) -> Completeness:
    """Read config.json, summary.json and samples.jsonl (one streaming pass) of a run directory."""
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise UsageError(f"run directory not found: {run_dir}")
    config = rd.config()
    n = config.get("n") if isinstance(config.get("n"), int) else None
    problems = config.get("num_problems") if isinstance(config.get("num_problems"), int) else None
    indices: dict[str, set[int]] = defaultdict(set)
    for _, row in iter_rows(rd.samples_path):
        index = row.get("sample_index")
        if isinstance(index, int) and (n is None or index < n):
            indices[str(row.get("problem_id"))].add(index)
    present = sum(len(v) for v in indices.values())
    full = {pid for pid, seen in indices.items() if n is not None and len(seen) == n}
    result = Completeness(rd.path, n, problems * n if problems is not None and n is not None else None, present,
                          full)
    result.problem = _summary_problem(rd, config, result)
    return result


def _summary_problem(rd: RunDir, config: dict[str, Any], state: Completeness) -> str | None:
    """Why the summary does not vouch for a complete run, or None when it does."""
    if not rd.summary_path.is_file():
        return "no summary.json: the run never finished"
    try:
        summary = json.loads(rd.summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "summary.json is unreadable"
    if summary.get("stale"):
        return "summary.json is stale: the run was reopened and has not finished since"
    if state.n is not None and summary.get("n_samples") != state.n:
        return f"summary.json counted n={summary.get('n_samples')} but config.json asks for n={state.n}"
    if "limit" in summary and summary.get("limit") != config.get("limit"):
        return (f"summary.json counted --limit {summary.get('limit')} but config.json asks for "
                f"--limit {config.get('limit')}")
    if summary.get("complete") is False:
        return "summary.json says complete: false"
    if state.missing:
        return "samples.jsonl lacks samples its summary counted"
    return None


def comparable_problems(baseline: str | Path, candidate: str | Path, allow_partial: bool
                        ) -> tuple[set[str] | None, str | None]:
    """(problems to compare, note) for two runs: (None, None) when both are complete; a UsageError naming
    the first partial run unless `allow_partial`, which gives the problems complete in both and a note."""
    states = [run_completeness(baseline), run_completeness(candidate)]
    partial = [s for s in states if not s.complete]
    if not partial:
        return None, None
    if not allow_partial:
        raise UsageError(partial[0].refusal())
    both = states[0].complete_problems & states[1].complete_problems
    counts = ", ".join(f"{name} {len(s.complete_problems)}" for name, s in zip(("baseline", "candidate"), states,
                                                                                  strict=True))
    note = (f"--allow-partial: {', '.join(str(s.path) for s in partial)} "
            f"{'is a partial run' if len(partial) == 1 else 'are partial runs'}; compared only on the "
            f"{len(both)} problems complete in both ({counts} complete problems)")
    return both, note
