"""The records that flow through r1eval: Problem -> Completion -> Verdict -> Sample.

`Sample` is the one line of `samples.jsonl` that everything downstream reads: metrics, resume,
`r1eval gate`, reports, the distillation filter and training-time gating.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError

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
    completion_tokens: int | None  # None: the engine or server did not say (never counted as 0)
    finish_reason: str  # as the engine gave it: "stop" | "length" | "content_filter" | ...
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
    completion_tokens: int | None  # None when the server reported no usage
    finish_reason: str
    gold: Any = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json_text(asdict(self))

    @classmethod
    def from_dict(cls, row: dict[str, Any], strict: bool = True) -> Sample:
        """A Sample from one samples.jsonl row (unknown keys ignored). A missing field raises
        `MissingFieldError` naming it when `strict`; otherwise it is filled with its default, or None."""
        values = {k: v for k, v in row.items() if k in cls.__dataclass_fields__}
        for name, f in cls.__dataclass_fields__.items():
            if name in values:
                continue
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            if strict:
                raise MissingFieldError(name)
            values[name] = None
        return cls(**values)


class MissingFieldError(KeyError):
    """A samples.jsonl row lacks a field of `Sample` (the field name is `args[0]`)."""


# apply_chat_template arguments r1eval decides; --chat-template-kwargs can't override them
RESERVED_TEMPLATE_KWARGS = {"conversation", "messages", "tokenize", "add_generation_prompt", "continue_final_message",
                            "return_dict", "return_tensors", "padding", "truncation", "max_length"}


@dataclass(frozen=True)
class SamplingParams:
    """Every sampling setting r1eval sends to an engine; the defaults are the DeepSeek-R1 evaluation protocol
    (temperature 0.6, top-p 0.95) with every other filter and penalty off. Backends set each of these
    explicitly and never take a value from the model's `generation_config.json`."""

    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0  # 0 = off (every token stays a candidate)
    min_p: float = 0.0
    repetition_penalty: float = 1.0  # vLLM/HF: divides positive logits of tokens already in prompt or reply
    presence_penalty: float = 0.0  # OpenAI/vLLM: subtracted once from tokens already in the reply
    frequency_penalty: float = 0.0  # OpenAI/vLLM: subtracted per occurrence in the reply
    max_tokens: int = 32768
    seed: int = 0
    force_think: bool = False  # open the reply with "<think>\n" as the R1-distill cards recommend
    system_prompt: str | None = None  # prepended as a system turn; None = no system turn of ours
    chat_template_kwargs: dict[str, Any] | None = None  # extra chat-template variables, e.g. enable_thinking

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        if self.n < 1:
            raise ConfigError("n", f"must be >= 1 (got {self.n})")
        if not 0.0 <= self.temperature <= 5.0:
            raise ConfigError("temperature", f"must be in [0, 5] (got {self.temperature})")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError("top_p", f"must be in (0, 1] (got {self.top_p})")
        if self.top_k < 0:
            raise ConfigError("top_k", f"must be >= 0, 0 = off (got {self.top_k})")
        if not 0.0 <= self.min_p <= 1.0:
            raise ConfigError("min_p", f"must be in [0, 1] (got {self.min_p})")
        if not 0.0 < self.repetition_penalty <= 2.0:
            raise ConfigError("repetition_penalty", f"must be in (0, 2], 1 = off (got {self.repetition_penalty})")
        for name, value in (("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)):
            if not -2.0 <= value <= 2.0:
                raise ConfigError(name, f"must be in [-2, 2], 0 = off (got {value})")
        if self.max_tokens < 1:
            raise ConfigError("max_tokens", f"must be >= 1 (got {self.max_tokens})")
        if self.seed < 0:
            raise ConfigError("seed", f"must be >= 0 (got {self.seed})")
        if self.chat_template_kwargs is not None and not isinstance(self.chat_template_kwargs, dict):
            raise ConfigError("chat_template_kwargs", "must be a JSON object, e.g. '{\"enable_thinking\": true}'")
        reserved = sorted(set(self.chat_template_kwargs or {}) & RESERVED_TEMPLATE_KWARGS)
        if reserved:
            raise ConfigError("chat_template_kwargs", f"can't set {', '.join(reserved)}: r1eval sets it itself")

    def penalties_off(self) -> bool:
        """Whether the repetition, presence and frequency penalties are all neutral."""
        return self.repetition_penalty == 1.0 and self.presence_penalty == 0.0 and self.frequency_penalty == 0.0


# config.json fields of the resume identity that come from SamplingParams: all but n, which may grow
SAMPLING_IDENTITY = tuple(f.name for f in fields(SamplingParams) if f.name != "n")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` that keeps non-ASCII text readable yet always encodes as UTF-8: a lone surrogate (a broken
    emoji a server sent as `\\ud800`, or one a program printed) is invalid in UTF-8, so such an object is
    written with ASCII escapes instead, which read back to the same string. Every JSON file r1eval writes
    goes through here."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, **kwargs)
    return text


def utf8_safe(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, for formats that can only hold valid Unicode (parquet)."""
    return _SURROGATE.sub("\ufffd", text)


def sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    """A 31-bit seed that depends only on (base seed, problem, sample index), never on batching."""
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class Rows(list):
    """Rows read from a file, with `lines[i]` the 1-based file line of row i (blank lines counted), so an
    error about a row can name the line an editor shows."""

    def __init__(self, rows: list[dict[str, Any]] | None = None, lines: list[int] | None = None) -> None:
        super().__init__(rows or [])
        self.lines = list(lines or [])


def row_place(rows: list[Any], index: int) -> str:
    """Where row `index` (0-based) is: `line N` of its file when known, else `row N` (1-based)."""
    lines = getattr(rows, "lines", None)
    return f"line {lines[index]}" if lines and index < len(lines) else f"row {index + 1}"


def duplicate_ids(ids: list[str], rows: list[Any] | None = None) -> str | None:
    """None when `ids` are unique; else the first repeated id and where it occurs (for an error line)."""
    first: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in first:
            places = [row_place(rows, first[pid]), row_place(rows, i)] if rows is not None else []
            return f"id {pid!r} appears twice" + (f" ({places[0]} and {places[1]})" if places else "")
        first[pid] = i
    return None


def read_jsonl(path: str | Path) -> Rows:
    """Read a JSONL file; a bad line raises UsageError naming the file and line number (1-based, blank
    lines counted). The rows know their line numbers (`Rows.lines`)."""
    rows = Rows()
    for lineno, row in iter_jsonl(path):
        rows.append(row)
        rows.lines.append(lineno)
    return rows


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_jsonl` one (line number, row) at a time: a large file is never held whole."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not UTF-8 (byte {exc.start} of the line); save the file as "
                                 "UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove that line") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
