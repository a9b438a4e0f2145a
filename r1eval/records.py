"""The records that flow through r1eval: Problem -> Completion -> Verdict -> Sample.

`Sample` is the one line of `samples.jsonl` that everything downstream reads: metrics, resume,
`r1eval gate`, reports, the distillation filter and training-time gating.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError

Messages = list[dict[str, str]]


@dataclass
class Problem:
    """One benchmark item: a chat prompt plus whatever its scorer needs."""

    id: str
    messages: Messages
    gold: Any = None  # math: answer string; mcq: letter; code: None (tests live in meta)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Completion:
    """One generated reply. Backends fold separate reasoning text into `<think>...</think>`."""

    text: str
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """What a scorer says about one completion."""

    extracted_answer: str | None
    correct: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One line of samples.jsonl: a problem id, a sample index, its seed, prompt, completion and verdict."""

    problem_id: str
    sample_index: int
    seed: int
    prompt: str | Messages
    completion: str
    extracted_answer: str | None
    correct: bool
    completion_tokens: int
    finish_reason: str
    gold: Any = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Sample:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in row.items() if k in known})


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings; the defaults are the DeepSeek-R1 evaluation protocol."""

    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int = 0
    force_think: bool = False  # open the reply with "<think>\n" as the R1-distill cards recommend

    def validate(self) -> None:
        """Raise UsageError naming the first out-of-range field."""
        if self.n < 1:
            raise UsageError(f"-n must be >= 1 (got {self.n})")
        if not 0.0 <= self.temperature <= 5.0:
            raise UsageError(f"--temperature must be in [0, 5] (got {self.temperature})")
        if not 0.0 < self.top_p <= 1.0:
            raise UsageError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.max_tokens < 1:
            raise UsageError(f"--max-tokens must be >= 1 (got {self.max_tokens})")
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0 (got {self.seed})")


def sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    """A 31-bit seed that depends only on (base seed, problem, sample index), never on batching."""
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file; a bad line raises UsageError naming the file and line number."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove that line") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
