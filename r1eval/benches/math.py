"""Math benchmarks (AIME 2024/2025, AMC23, MATH-500, any user JSONL), graded with math-verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from r1eval.benches.base import Bench, LoadOptions
from r1eval.errors import UsageError
from r1eval.grading.math import MATH_GRADER_VERSION, MathGrader, normalize_gold
from r1eval.records import Problem, Verdict, duplicate_ids, read_jsonl, row_place

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def math_prompt(problem: str) -> list[dict[str, str]]:
    """The R1 evaluation prompt: no system prompt, one user turn with the problem and the instruction."""
    return [{"role": "user", "content": f"{problem}\n{MATH_INSTRUCTION}"}]


def bundled_path(filename: str) -> Path:
    """Path of a data file shipped inside the package."""
    return Path(str(resources.files("r1eval.benches") / "data" / filename))


def problems_from_rows(rows: list[dict[str, Any]], source: str) -> list[Problem]:
    """Build math problems from rows with `problem` and `answer` (ids from id/unique_id or the row number)."""
    problems = []
    for i, row in enumerate(rows):
        missing = [k for k in ("problem", "answer") if row.get(k) in (None, "")]
        if missing:
            raise UsageError(f"{source}: {row_place(rows, i)} has no {' or '.join(missing)} field; "
                             "math rows need 'problem' and 'answer'")
        pid = str(row.get("id", row.get("unique_id", i)))
        meta = {k: row[k] for k in ("subject", "level", "url") if k in row}
        problems.append(Problem(pid, math_prompt(row["problem"]), normalize_gold(row["answer"]), meta))
    duplicate = duplicate_ids([p.id for p in problems], rows)
    if duplicate:
        raise UsageError(f"{source}: problem ids are not unique: {duplicate}; give each row a distinct 'id'")
    return problems


@dataclass
class MathBench(Bench):
    """A math benchmark: bundled JSONL (or a user file), optional hub source, math-verify scorer."""

    filename: str | None = None  # bundled file under r1eval/benches/data
    path: Path | None = None  # a user's JSONL
    hub_id: str | None = None
    hub_split: str = "test"
    hub_config: str | None = None
    _grader: MathGrader | None = field(default=None, repr=False)

    def load(self, opts: LoadOptions) -> list[Problem]:
        if opts.data is not None:
            return problems_from_rows(read_jsonl(opts.data), str(opts.data))
        if opts.hub:
            return problems_from_rows(self._load_hub(), self.hub_id or self.name)
        path = self.path or bundled_path(self.filename or f"{self.name}.jsonl")
        return problems_from_rows(read_jsonl(path), str(path))

    def _load_hub(self) -> list[dict[str, Any]]:
        if not self.hub_id:
            raise UsageError(f"bench {self.name} has no hub source; drop `hub`")
        import datasets

        ds = datasets.load_dataset(self.hub_id, self.hub_config, split=self.hub_split)
        return [dict(row) for row in ds]

    @property
    def grader(self) -> MathGrader:
        if self._grader is None:
            self._grader = MathGrader()
        return self._grader

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return self.grader.grade([(completion, problem.gold) for problem, completion in items])

    def provenance(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"grader": {"name": "r1eval-math", "version": MATH_GRADER_VERSION,
                           "math_verify": version("math-verify")}}

    def equivalent(self, a: str, b: str) -> bool:
        return self.grader.equivalent(a, b)

    def close(self) -> None:
        if self._grader is not None:
            self._grader.close()


def math_benches() -> list[Bench]:
    """The bundled math benchmarks with the R1 protocol's sample counts."""
    return [
        MathBench("aime24", "AIME 2024 I+II (30 problems)", default_n=64, filename="aime24.jsonl",
                  hub_id="HuggingFaceH4/aime_2024", hub_split="train"),
        MathBench("aime25", "AIME 2025 I+II (30 problems)", default_n=64, filename="aime25.jsonl",
                  hub_id="yentinglin/aime_2025", hub_split="train"),
        MathBench("amc23", "AMC 2023 (40 problems)", default_n=16, filename="amc23.jsonl",
                  hub_id="math-ai/amc23"),
        MathBench("math500", "MATH-500, PRM800K test split (500 problems)", default_n=4,
                  filename="math500.jsonl", hub_id="HuggingFaceH4/MATH-500"),
    ]
