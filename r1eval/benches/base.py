"""What a benchmark is: data loading, the prompt, and a scorer. One subclass per family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from r1eval.records import Problem, Sample, Verdict


@dataclass
class LoadOptions:
    """How to load a bench's problems. `extra` carries bench-specific CLI options (e.g. since/until)."""

    data: Path | None = None  # a local file instead of the bundled or hub data
    hub: bool = False  # load from the Hugging Face hub instead of the bundled snapshot
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bench:
    """A benchmark as data: a name, defaults for the R1 protocol, `load`, `grade` and `equivalent`.

    Subclasses implement `load` and `grade`; everything else (run directory, metrics, resume,
    reports) is shared. What a bench supports is declared by the class attributes below (its
    capabilities); the runner, audit, distillation filter and RL code ask these, never the name or kind.
    """

    # which rule grader reads the answers: "math" | "mcq" | "code" | "judge" | "lm-eval" (audit re-grades
    # math and mcq runs; GRPO's accuracy reward is math-verify, so it trains on "math" benches)
    grader_family: ClassVar[str] = "math"
    has_gold: ClassVar[bool] = True  # each problem's gold is an answer string (samples record it)
    votes: ClassVar[bool] = True  # cons@n: a majority vote over extracted answers (`equivalent` groups them)
    needs_sandbox: ClassVar[bool] = False  # replies are programs run against tests in the sandbox
    needs_judge: ClassVar[bool] = False  # only an LLM judge grades replies (no rule grader)

    name: str
    description: str
    default_n: int = 4
    default_max_tokens: int = 32768
    kind: str = "math"  # a label: `r1eval list` shows it and reports group by it (behaviour: the capabilities)

    def load(self, opts: LoadOptions) -> list[Problem]:
        """Return the problems, each with its chat prompt already built."""
        raise NotImplementedError

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        """Score completions (one per item), in order. Never raises on a bad completion."""
        raise NotImplementedError

    def sample_problem(self, problem: Problem, sample_index: int, seed: int) -> Problem:
        """The problem as shown to one sample (`seed` is that sample's seed). Default: the same problem for
        every sample. A bench that varies the prompt per sample (GPQA shuffles the choice order) returns a
        Problem with that sample's messages and meta; the runner sends each distinct prompt as its own
        request and grades the sample against the Problem returned here."""
        return problem

    def extra_summary(self, summary: dict[str, Any], samples: Sequence[Sample],
                      problems: Sequence[Problem]) -> dict[str, Any]:
        """Bench-specific keys merged into summary.json (e.g. a Codeforces rating). Default: none."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """What, besides the data, decides this bench's verdicts: at least `{"grader": {"name", "version"}}`
        (code benches add `"isolation"`, the sandbox level). The runner records it in config.json under
        `bench_provenance` (part of the resume identity) and merges it into summary.json, so runs graded
        differently are never mixed or compared silently. Bump a grader's version when its verdicts change."""
        return {"grader": {"name": f"{self.kind}-exact-match", "version": "1"}}

    def equivalent(self, a: str, b: str) -> bool:
        """Whether two extracted answers are the same answer (the classes cons@n votes over)."""
        return a == b

    def close(self) -> None:
        """Release pools or other resources held by the scorer."""


@dataclass
class SandboxedBench(Bench):
    """A bench whose replies are programs, graded by running the problem's tests in the sandbox: no gold
    answer string, no majority vote."""

    grader_family: ClassVar[str] = "code"
    has_gold: ClassVar[bool] = False
    votes: ClassVar[bool] = False
    needs_sandbox: ClassVar[bool] = True
