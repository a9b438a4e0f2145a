"""Judge-graded benches: SimpleQA (OpenAI's short-form factuality set, simple-evals' columns `problem`,
`answer`, `metadata`) and any free-form question/answer file graded with `--grader judge`.

The prompt is the question alone, as simple-evals sends it. `grade` only reads the final answer (after
`</think>`); the verdict is the judge's (`r1eval.judge.stage`), with simple-evals' grades CORRECT,
INCORRECT, NOT_ATTEMPTED. No SimpleQA data ships with r1eval: pass `--data simple_qa_test_set.csv` (or a
JSONL/parquet copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from r1eval.benches.base import Bench, LoadOptions
from r1eval.errors import UsageError
from r1eval.records import Problem, Verdict

JUDGE_GRADER_VERSION = "1"


@dataclass
class JudgedQABench(Bench):
    """Free-form questions whose answers a judge grades against a reference answer."""

    grader_family: ClassVar[str] = "judge"
    needs_judge: ClassVar[bool] = True

    path: Path | None = None  # a user's file given as --bench FILE
    judge_template: str = "answer-match"  # the built-in template of this grading task

    def load(self, opts: LoadOptions) -> list[Problem]:
        from r1eval.benches.datasource import read_local

        source = opts.data or self.path
        if source is None:
            raise UsageError(f"bench {self.name} ships no data: pass `data` FILE (simple-evals' "
                             "simple_qa_test_set.csv, or JSONL/parquet with problem and answer columns)")
        loaded = read_local(Path(source))
        loaded.note(opts)
        return problems_from_qa_rows(loaded.rows, str(source))

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        """The final answer only; `correct` stays False until the judge's verdict replaces it."""
        from r1eval.judge.stage import final_answer

        return [Verdict(final_answer(completion), False, {"graded_by": "judge"}) for _, completion in items]

    def provenance(self) -> dict[str, Any]:
        return {"grader": {"name": "r1eval-judge", "version": JUDGE_GRADER_VERSION,
                           "template": self.judge_template}}


def problems_from_qa_rows(rows: list[dict[str, Any]], source: str) -> list[Problem]:
    """Problems from rows with `problem` and `answer` (ids from id/unique_id or the row number; simple-evals'
    `metadata` kept in meta)."""
    problems = []
    for i, row in enumerate(rows):
        missing = [k for k in ("problem", "answer") if row.get(k) in (None, "")]
        if missing:
            raise UsageError(f"{source}: row {i + 1} has no {' or '.join(missing)} column; judge-graded rows need "
                             "'problem' and 'answer'")
        meta = {"metadata": row["metadata"]} if row.get("metadata") not in (None, "") else {}
        pid = str(row.get("id", row.get("unique_id", i)))
        problems.append(Problem(pid, [{"role": "user", "content": str(row["problem"])}], str(row["answer"]).strip(),
                                meta))
    if len({p.id for p in problems}) != len(problems):
        raise UsageError(f"{source}: problem ids are not unique; give each row a distinct 'id'")
    return problems


def simpleqa_bench() -> Bench:
    return JudgedQABench("simpleqa", "SimpleQA short-form factuality (judge-graded; --data FILE)", default_n=1,
                         default_max_tokens=32768, kind="qa", judge_template="simpleqa")


def judged_file_bench(path: Path) -> Bench:
    """`--bench FILE.jsonl --grader judge`: the file's problem/answer rows as free-form questions."""
    return JudgedQABench(path.stem, f"user question/answer file {path} (judge-graded)", default_n=1, kind="qa",
                         path=path)
