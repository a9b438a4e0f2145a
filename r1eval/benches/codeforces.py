"""Codeforces: problems in the `open-r1/codeforces` schema, programs judged in the sandbox, and a rating.

Each problem is a stdin/stdout task judged on its official tests (the examples when a row has none)
under its own time limit (seconds) and memory limit (MB). Problems that this judge cannot grade
faithfully are skipped when loading, and the loader says how many: interactive problems (an
`interaction_format`, or `interactive: true`), problems that read/write files instead of stdio
(`input_mode` other than "stdio"), and problems whose answers need a custom checker (`generated_checker`:
several outputs are correct, so comparing with the jury's output would mark right answers wrong).

summary.json gets `rating` and `rating_ci95`: the maximum-likelihood Codeforces rating given each rated
problem's solve rate over the n samples (see r1eval/elo.py and README.md, section "Codeforces rating estimation"), plus the full
estimate under `rating_estimate`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from r1eval.benches.base import LoadOptions, SandboxedBench
from r1eval.benches.datasource import read_hub_dataset, read_local
from r1eval.errors import UsageError
from r1eval.records import Problem, Sample, Verdict, duplicate_ids
from r1eval.workers import thread_map

HUB_ID = "open-r1/codeforces"
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 256

INSTRUCTION = ("Solve the following competitive programming problem in Python 3. Reason about the algorithm "
               "and its complexity first: your program must run within the time and memory limits on the "
               "largest inputs. It must read from standard input and write to standard output, printing "
               "nothing else. Put the complete program in one ```python code block at the end of your reply.")
# --language cpp: the same instruction for C++ (compiled with g++ -std=c++17 -O2, as Codeforces does)
INSTRUCTIONS = {"python": INSTRUCTION,
                "cpp": INSTRUCTION.replace("in Python 3.", "in C++17 (compiled with g++ -std=c++17 -O2).")
                                  .replace("```python", "```cpp")}


def codeforces_prompt(row: dict[str, Any], time_limit_s: float, memory_mb: float,
                      language: str = "python") -> list[dict[str, str]]:
    """One user turn: the instruction and the statement (limits, legend, input/output, examples, note)."""
    parts = [INSTRUCTIONS[language], "", f"# {row.get('title') or 'Problem'}",
             f"time limit per test: {time_limit_s:g} seconds", f"memory limit per test: {memory_mb:g} megabytes",
             "", str(row.get("description") or "").strip()]
    for heading, key in (("Input", "input_format"), ("Output", "output_format")):
        if row.get(key):
            parts += ["", f"## {heading}", str(row[key]).strip()]
    for i, ex in enumerate(row.get("examples") or [], 1):
        parts += ["", f"## Example {i}", "Input:", "```", str(ex["input"]).rstrip(), "```", "Output:", "```",
                  str(ex["output"]).rstrip(), "```"]
    if row.get("note"):
        parts += ["", "## Note", str(row["note"]).strip()]
    return [{"role": "user", "content": "\n".join(parts).strip()}]


def skip_reason(row: dict[str, Any]) -> str | None:
    """Why this judge can't grade a problem faithfully (interactive, file I/O, custom checker), or None."""
    if row.get("interactive") or row.get("interaction_format"):
        return "interactive"
    if row.get("input_mode") not in (None, "", "stdio"):
        return "file input/output"
    if row.get("generated_checker"):
        return "custom checker"
    return None


def _tests(row: dict[str, Any], where: str) -> tuple[list[tuple[str, str]], str]:
    for key in ("official_tests", "examples"):
        tests = row.get(key) or []
        if tests:
            try:
                return [(str(t["input"]), str(t["output"])) for t in tests], key
            except (KeyError, TypeError):
                raise UsageError(f"{where}: every entry of '{key}' needs 'input' and 'output'") from None
    raise UsageError(f"{where}: no official_tests and no examples to judge with")


def problems_from_rows(rows: list[dict[str, Any]], source: str,
                       language: str = "python") -> tuple[list[Problem], dict[str, int]]:
    """Problems from open-r1/codeforces rows, and how many of each kind were skipped."""
    problems, skipped = [], {}
    for i, row in enumerate(rows, 1):
        where = f"{source}: row {i}"
        if row.get("contest_id") in (None, "") or not row.get("index") or not row.get("description"):
            raise UsageError(f"{where} needs contest_id, index and description (the {HUB_ID} schema)")
        reason = skip_reason(row)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        tests, test_source = _tests(row, where)
        time_limit = float(row.get("time_limit") or DEFAULT_TIME_LIMIT_S)
        memory_mb = float(row.get("memory_limit") or DEFAULT_MEMORY_MB)
        rating = row.get("rating")
        meta = {"contest_id": str(row["contest_id"]), "index": str(row["index"]), "title": row.get("title"),
                "rating": float(rating) if rating is not None else None, "time_limit": time_limit,
                "memory_limit": memory_mb, "tests": tests, "test_source": test_source,
                "official_tests_complete": row.get("official_tests_complete")}
        pid = str(row.get("id") or f"{row['contest_id']}/{row['index']}")
        problems.append(Problem(pid, codeforces_prompt(row, time_limit, memory_mb, language), None, meta))
    duplicate = duplicate_ids([p.id for p in problems])
    if duplicate:
        raise UsageError(f"{source}: problem ids are not unique: {duplicate}")
    return problems, skipped


@dataclass
class CodeforcesBench(SandboxedBench):
    """Codeforces problems judged on their tests in the sandbox; summary adds a maximum-likelihood rating."""

    time_scale: float = 1.0  # multiply every problem's time limit (Codeforces limits are set for C++)
    hub_split: str = "test"
    language: str = "python"  # --language: the language answers are asked in (a block's own tag decides grading)
    skipped: dict[str, int] = field(default_factory=dict, repr=False)

    def load(self, opts: LoadOptions) -> list[Problem]:
        from r1eval.benches.code import answer_language

        self.language = answer_language(opts, self.name)
        revision = opts.extra.get("revision")
        if opts.data is not None:
            loaded = read_local(opts.data, split=self.hub_split, revision=revision)
        elif opts.hub:
            loaded = read_hub_dataset(HUB_ID, split=self.hub_split, revision=revision,
                                      hint="pass `data` PATH with rows in its schema")
        else:
            raise UsageError(f"codeforces is not bundled: pass `data` PATH (rows in the {HUB_ID} schema: JSONL, parquet, "
                             "a save_to_disk directory or a hub snapshot) or `hub` [`revision` REV]")
        loaded.note(opts)
        source = loaded.source
        problems, self.skipped = problems_from_rows(loaded.rows, source, self.language)
        if self.skipped:
            print(f"codeforces: skipped {', '.join(f'{n} {why}' for why, n in sorted(self.skipped.items()))} "
                  f"problem(s) this judge cannot grade; {len(problems)} left", file=sys.stderr)
        if not problems:
            raise UsageError(f"{source}: no gradable problems left after skipping {self.skipped}")
        return problems

    def provenance(self) -> dict[str, Any]:
        from r1eval.grading import sandbox

        return {"grader": {"name": "r1eval-sandbox", "version": sandbox.SANDBOX_VERSION},
                "isolation": sandbox.isolation(), **({"language": self.language} if self.language != "python" else {})}

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return thread_map(self._grade_one, items)

    def _grade_one(self, item: tuple[Problem, str]) -> Verdict:
        from r1eval.grading import sandbox
        from r1eval.grading.code import code_and_language

        problem, completion = item
        found = code_and_language(completion, self.language)
        if found is None:
            return Verdict(None, False, {"verdict": "no_code", "error": f"no ```{self.language} block after the reasoning"})
        language, code = found
        meta = problem.meta
        if "tests" not in meta:
            raise UsageError(f"problem {problem.id}: no tests loaded; pass the bench's `data` FILE")
        out = sandbox.run_stdin_tests(code, meta["tests"], timeout_s=meta["time_limit"] * self.time_scale,
                                      memory_mb=int(meta["memory_limit"]), add_lcb_imports=False, language=language)
        detail = {"verdict": out.verdict, "tests_passed": out.tests_passed, "tests_total": out.tests_total}
        if language != "python":
            detail["language"] = language
        if out.detail:
            detail["error"] = out.detail
        return Verdict(code, out.passed, detail)

    def extra_summary(self, summary: dict[str, Any], samples: Sequence[Sample],
                      problems: Sequence[Problem]) -> dict[str, Any]:
        """`rating` and `rating_ci95` from the rated problems' solve rates (passes out of n samples)."""
        from r1eval.elo import ProblemResult, estimate_rating

        ratings = {p.id: p.meta.get("rating") for p in problems}
        results = [ProblemResult(ratings[row["problem_id"]], row["correct"] / row["n"], row["n"])
                   for row in summary["per_problem"] if ratings.get(row["problem_id"]) is not None]
        extra: dict[str, Any] = {"skipped_problems": self.skipped,
                                 "unrated_problems": sum(r is None for r in ratings.values())}
        if not results:
            return {**extra, "rating": None, "rating_ci95": None,
                    "rating_note": "no rated problems: the rating needs each problem's Codeforces rating"}
        estimate = estimate_rating(results)
        return {**extra, "rating": estimate["rating"], "rating_ci95": estimate["rating_ci95"],
                "rating_estimate": estimate}


def codeforces_benches() -> list[SandboxedBench]:
    """Codeforces with the R1 protocol's defaults."""
    return [CodeforcesBench("codeforces", f"Codeforces problems ({HUB_ID} schema; --data PATH or --hub), "
                            "judged in the sandbox; summary adds a rating", default_n=8, kind="code")]

