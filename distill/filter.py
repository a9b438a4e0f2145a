"""Rejection sampling for distillation: keep a teacher trace only if it is correct and readable.

DeepSeek-R1 built its 800k SFT set by sampling the RL checkpoint and keeping only correct replies
whose chain of thought is readable: no mixed languages, no long paragraphs of code, no rambling. The
checks here, in the order a trace is tested (a rejected trace's `reason` is the first that failed,
`reasons` lists all of them):

- `format`: the reply is `<think>reasoning</think>` followed by a non-empty summary (`require_think`; when
  off, a reply without a think block is checked whole as the reasoning).
- `incorrect`: the harness's verifier (the bench's `grade`, math-verify for math) says it is wrong.
- `language`: language consistency of reasoning (and of the summary) below the threshold, measured
  with `r1eval.grading.language.language_consistency`, the same measure as the RL reward.
- `mixed_language`: the reasoning holds words of a second script (a few foreign words mid-thought).
- `repetition`: share of repeated word n-grams above the threshold (loops, stuck decoding).
- `too_short` / `too_long`: length (characters) outside bounds; `truncated` for finish_reason=length.
- `code_block`: a fenced code block longer than the limit in non-code reasoning.
- `duplicate`: the same completion (whitespace- and case-normalised) already kept for this prompt.
- `per_prompt_cap`: this prompt already has `max_per_prompt` kept traces.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.grading.language import (
    LANGUAGE_SCRIPTS,
    MAX_FOREIGN_WORDS,
    language_consistency,
    mixed_language,
    script_word_counts,
)
from r1eval.reasoning import single_block
from r1eval.recipes import option
from r1eval.records import Messages, Problem, json_text, read_jsonl, sample_seed

REASONS = ("format", "incorrect", "truncated", "language", "mixed_language", "repetition", "too_short",
           "too_long", "code_block", "duplicate", "per_prompt_cap")
_FENCE = re.compile(r"```[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass
class FilterConfig:
    """Thresholds of the rejection filter (defaults follow the R1 recipe's intent, tuned for math); each field
    is a `r1eval distill filter` flag and a `--config` YAML key."""

    language: str = option("en", "target language of reasoning and summary (a key of LANGUAGE_SCRIPTS)")
    min_language_consistency: float = option(0.95, "share of words in the target script, reasoning and summary")
    max_foreign_words: int = option(MAX_FOREIGN_WORDS, "more words than this in another script = mixed language")
    repetition_ngram: int = option(4, "word n-gram size for the repetition measure")
    max_repeated_ngram_ratio: float = option(0.3, "1 - unique/total n-grams of the reasoning")
    min_chars: int = option(20, "shortest completion kept, characters")
    max_chars: int = option(100_000, "longest completion kept, characters (~32k tokens)")
    max_code_block_lines: int = option(8, "longest fenced code block allowed in the reasoning of non-code problems")
    allow_code: bool = option(False, "code problems: skip the code-block check (on for code benches)")
    reject_truncated: bool = option(True, "drop replies that hit max_tokens (finish_reason length)")
    require_think: bool = option(True, "a reply must be <think>reasoning</think> + summary (false: a teacher that "
                                       "writes no <think> block; its whole reply counts as the reasoning)")
    max_per_prompt: int = option(4, "m: at most this many kept traces per problem")
    dedupe: bool = option(True, "drop a completion already kept for its problem")

    def validate(self) -> None:
        """Raise UsageError naming the first bad threshold."""
        if self.language not in LANGUAGE_SCRIPTS:
            raise UsageError(f"unknown language {self.language!r}; known: {', '.join(LANGUAGE_SCRIPTS)}")
        if not 0.0 <= self.min_language_consistency <= 1.0:
            raise UsageError("min_language_consistency must be in [0, 1]")
        if not 0.0 <= self.max_repeated_ngram_ratio <= 1.0:
            raise UsageError("max_repeated_ngram_ratio must be in [0, 1]")
        if self.repetition_ngram < 1 or self.max_per_prompt < 1:
            raise UsageError("repetition_ngram and max_per_prompt must be >= 1")
        if self.min_chars > self.max_chars:
            raise UsageError(f"min_chars ({self.min_chars}) exceeds max_chars ({self.max_chars})")


@dataclass
class Trace:
    """One teacher reply to filter: the prompt messages, gold, completion and (if known) its verdict."""

    problem_id: str
    messages: Messages
    gold: Any
    completion: str
    correct: bool | None = None  # None: grade it with the bench
    completion_tokens: int | None = None
    finish_reason: str | None = None
    source: dict[str, Any] = field(default_factory=dict)  # the input row, echoed into kept/rejected


def split_think(completion: str) -> tuple[str, str] | None:
    """(reasoning, summary) of a `<think>...</think>summary` reply, or None if it isn't one."""
    block = single_block(completion)
    return (block[0].strip(), block[1].strip()) if block else None


def repeated_ngram_ratio(text: str, n: int = 4) -> float:
    """1 - (distinct word n-grams / all word n-grams); 0 for text shorter than n words."""
    words = _WORDS.findall(text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def longest_code_block(text: str) -> int:
    """Lines in the longest fenced (```) code block of `text` (an unclosed fence runs to the end)."""
    return max((len(m["body"].strip("\n").splitlines()) for m in _FENCE.finditer(text)), default=0)


def _consistent(text: str, language: str, threshold: float) -> bool:
    # text with no words at all (e.g. a summary that is only "\boxed{4}") has no language to be wrong in
    return not sum(script_word_counts(text).values()) or language_consistency(text, language) >= threshold


def readability_reasons(trace: Trace, cfg: FilterConfig) -> list[str]:
    """Every per-trace check that fails (format, language, repetition, length, code), correctness aside."""
    reasons = []
    n_chars = len(trace.completion)
    parts = split_think(trace.completion)
    if cfg.require_think and (parts is None or not parts[0] or not parts[1]):
        reasons.append("format")
    if cfg.reject_truncated and trace.finish_reason == "length":
        reasons.append("truncated")
    reasoning, summary = parts if parts else (trace.completion, "")
    if not (_consistent(reasoning, cfg.language, cfg.min_language_consistency)
            and _consistent(summary, cfg.language, cfg.min_language_consistency)):
        reasons.append("language")
    if mixed_language(reasoning, cfg.language, cfg.max_foreign_words):
        reasons.append("mixed_language")
    if repeated_ngram_ratio(reasoning, cfg.repetition_ngram) > cfg.max_repeated_ngram_ratio:
        reasons.append("repetition")
    if n_chars < cfg.min_chars:
        reasons.append("too_short")
    if n_chars > cfg.max_chars:
        reasons.append("too_long")
    if not cfg.allow_code and longest_code_block(reasoning) > cfg.max_code_block_lines:
        reasons.append("code_block")
    return reasons


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def grade_traces(traces: Sequence[Trace], bench: Any) -> None:
    """Fill `correct` for traces that have none, with the bench's verifier (in place)."""
    todo = [t for t in traces if t.correct is None]
    if not todo:
        return
    verdicts = bench.grade([(Problem(t.problem_id, t.messages, t.gold), t.completion) for t in todo])
    for t, v in zip(todo, verdicts, strict=True):
        t.correct = bool(v.correct)
        t.source.setdefault("extracted_answer", v.extracted_answer)


def filter_traces(traces: Sequence[Trace], cfg: FilterConfig, bench: Any = None,
                  decide_undecided: Callable[[Sequence[Trace]], None] | None = None
                  ) -> tuple[list[Trace], list[tuple[Trace, list[str]]]]:
    """Split traces into kept and (rejected, reasons). Input order decides which duplicates and which of a
    prompt's traces beyond `max_per_prompt` are dropped (sort by sample index for determinism).
    `decide_undecided` (the LLM judge, `--judge`) runs after the rule verifier and may mark traces correct."""
    cfg.validate()
    if any(t.correct is None for t in traces):
        if bench is None:
            from r1eval.benches.math import MathBench

            bench = MathBench("math", "generic math answers")
        try:
            grade_traces(traces, bench)
        finally:
            bench.close()
    if decide_undecided is not None:
        decide_undecided(traces)
    kept: list[Trace] = []
    rejected: list[tuple[Trace, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    per_prompt: Counter[str] = Counter()
    for t in traces:
        reasons = readability_reasons(t, cfg)
        if not t.correct:
            reasons.insert(1 if reasons[:1] == ["format"] else 0, "incorrect")
        if not reasons:
            key = (t.problem_id, _normalise(t.completion))
            if cfg.dedupe and key in seen:
                reasons.append("duplicate")
            elif per_prompt[t.problem_id] >= cfg.max_per_prompt:
                reasons.append("per_prompt_cap")
        if reasons:
            rejected.append((t, reasons))
            continue
        seen.add((t.problem_id, _normalise(t.completion)))
        per_prompt[t.problem_id] += 1
        kept.append(t)
    return kept, rejected


# ---------------------------------------------------------------------------------------------- loading


def traces_from_rows(rows: list[dict[str, Any]], source: str) -> list[Trace]:
    """Traces from JSONL rows: `problem` + gold `answer` + `completion` (standalone form), or samples.jsonl
    rows (`problem_id`, `completion`, `correct`, `gold`) whose prompt messages are in a `messages` field."""
    from r1eval.benches.math import math_prompt

    traces = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row.get("completion"), str):
            raise UsageError(f"{source}: row {i} has no 'completion' string")
        gold = row.get("answer", row.get("gold"))
        if isinstance(row.get("messages"), list):
            messages = row["messages"]
        elif isinstance(row.get("problem"), str):
            messages = math_prompt(row["problem"])
        elif isinstance(row.get("prompt"), list):
            messages = row["prompt"]
        else:
            raise UsageError(f"{source}: row {i} has no 'problem' (or 'messages'); rows need problem, answer, "
                             "completion")
        correct = row.get("correct")
        if correct is None and gold in (None, ""):
            raise UsageError(f"{source}: row {i} has neither a gold 'answer' nor a 'correct' verdict")
        pid = str(row.get("problem_id", row.get("id", row.get("problem", i))))
        traces.append(Trace(pid, messages, gold, row["completion"], None if correct is None else bool(correct),
                            row.get("completion_tokens"), row.get("finish_reason"), dict(row)))
    return traces


def traces_from_run_dir(path: Path) -> tuple[list[Trace], Any]:
    """Traces from a run directory (e.g. `r1eval distill generate` output): its samples, with each problem's
    chat messages reloaded from the bench named in config.json. Returns (traces, bench)."""
    from r1eval.benches import REGISTRY, LoadOptions
    from r1eval.benches.math import MathBench
    from r1eval.rundir import RunDir, read_samples

    config = RunDir(path).config()
    data = config.get("data")
    data_path = Path(data) if data not in (None, "bundled", "hub") else None
    if config["bench"] in REGISTRY:
        bench = REGISTRY[config["bench"]]
    elif data_path is not None:
        bench = MathBench(config["bench"], f"user math file {data_path}", path=data_path)
    else:
        raise UsageError(f"{path}: bench {config['bench']!r} is not registered and config.json names no data file")
    if data_path is not None and not data_path.is_file():
        raise UsageError(f"{path}: its data file {data_path} is gone; restore it to reload the prompts")
    problems = {p.id: p for p in bench.load(LoadOptions(data=data_path, hub=data == "hub"))}
    samples = sorted(read_samples(path / "samples.jsonl"), key=lambda s: (s.problem_id, s.sample_index))
    if not samples:
        raise UsageError(f"{path}/samples.jsonl has no samples")
    traces = []
    for s in samples:
        if s.problem_id not in problems:
            raise UsageError(f"{path}: sample for problem {s.problem_id!r} not in bench {bench.name}")
        # the prompt this sample saw (GPQA shows each sample its own choice order); a row without its seed
        # gets the one the run derived for it
        seed = s.seed if s.seed is not None else sample_seed(int(config.get("seed") or 0), s.problem_id,
                                                             s.sample_index)
        shown = bench.sample_problem(problems[s.problem_id], s.sample_index, seed)
        row = asdict(s)
        row.pop("prompt")
        traces.append(Trace(s.problem_id, shown.messages, s.gold, s.completion, s.correct,
                            s.completion_tokens, s.finish_reason, row))
    return traces, bench


def load_traces(path: Path) -> tuple[list[Trace], Any]:
    """Traces from a run directory, its samples.jsonl, or a standalone JSONL; returns (traces, bench or None)."""
    path = Path(path)
    if path.is_dir():
        return traces_from_run_dir(path)
    if path.name == "samples.jsonl" and (path.parent / "config.json").is_file():
        return traces_from_run_dir(path.parent)
    rows = read_jsonl(path)
    if not rows:
        raise UsageError(f"{path} has no rows")
    return traces_from_rows(rows, str(path)), None


# ---------------------------------------------------------------------------------------------- output


def chat_row(t: Trace) -> dict[str, Any]:
    """A kept trace as one chat-messages training row (prompt turns + the assistant's reply)."""
    return {"problem_id": t.problem_id, "messages": [*t.messages, {"role": "assistant", "content": t.completion}],
            "gold": None if t.gold is None else str(t.gold)}


def length_stats(values: Sequence[int]) -> dict[str, float]:
    """count, mean and quantiles of a list of lengths."""
    import numpy as np

    if not values:
        return {"count": 0}
    arr = np.asarray(values, dtype=float)
    q = np.quantile(arr, [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"count": int(arr.size), "mean": round(float(arr.mean()), 1), "min": float(q[0]), "p10": float(q[1]),
            "p50": float(q[2]), "p90": float(q[3]), "max": float(q[4])}


def filter_report(kept: Sequence[Trace], rejected: Sequence[tuple[Trace, list[str]]],
                  cfg: FilterConfig) -> dict[str, Any]:
    """Counts kept/rejected (by first reason and by any reason) and length distributions."""
    all_traces = [*kept, *(t for t, _ in rejected)]
    tokens = {"kept": [t.completion_tokens for t in kept if t.completion_tokens is not None],
              "all": [t.completion_tokens for t in all_traces if t.completion_tokens is not None]}
    return {
        "total": len(all_traces),
        "kept": len(kept),
        "rejected": len(rejected),
        "problems": len({t.problem_id for t in all_traces}),
        "problems_with_kept": len({t.problem_id for t in kept}),
        "rejected_by_reason": {r: n for r in REASONS if (n := sum(rs[0] == r for _, rs in rejected))},
        "failing_check_counts": {r: n for r in REASONS if (n := sum(r in rs for _, rs in rejected))},
        "length_chars": {"kept": length_stats([len(t.completion) for t in kept]),
                         "all": length_stats([len(t.completion) for t in all_traces])},
        "length_tokens": {k: length_stats(v) for k, v in tokens.items() if v},
        "config": asdict(cfg),
        "advice": filter_advice(len(all_traces), sum("format" in rs for _, rs in rejected)),
    }


def filter_advice(total: int, format_failures: int) -> str | None:
    """What to do when every trace failed `format` (a teacher that writes no <think> block); else None."""
    if total == 0 or format_failures < total:
        return None
    return (f"every trace ({total}) failed the format check: the teacher wrote no <think>...</think> block before "
            "its answer (an instruct model does not). Sample again with `r1eval distill generate --force-think`, use "
            "a reasoning teacher, or keep replies without one with `require_think: false` (--no-require-think)")


def format_report(report: dict[str, Any]) -> str:
    """The filter report as Markdown."""
    lines = ["# Rejection-sampling filter report", "",
             f"- traces: {report['total']} over {report['problems']} problems",
             f"- kept: {report['kept']} ({report['problems_with_kept']} problems have at least one)",
             f"- rejected: {report['rejected']}", *judge_report_lines(report), "",
             *([f"**{report['advice']}**", ""] if report.get("advice") else []),
             "| reason (first failing check) | rejected | failing this check (any) |", "|---|---:|---:|"]
    for r in REASONS:
        if r in report["failing_check_counts"]:
            lines.append(f"| {r} | {report['rejected_by_reason'].get(r, 0)} | {report['failing_check_counts'][r]} |")
    lines += ["", "| length | count | mean | min | p10 | p50 | p90 | max |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for unit in ("length_chars", "length_tokens"):
        for which, st in report.get(unit, {}).items():
            if st.get("count"):
                lines.append(f"| {unit.removeprefix('length_')} ({which}) | {st['count']} | {st['mean']} | "
                             f"{st['min']:g} | {st['p10']:g} | {st['p50']:g} | {st['p90']:g} | {st['max']:g} |")
    lines += ["", "Thresholds:", "", "```json", json.dumps(report["config"], indent=2), "```", ""]
    return "\n".join(lines)


def judge_report_lines(report: dict[str, Any]) -> list[str]:
    """The report's line on what the LLM judge decided (`--judge`), if one was asked."""
    judge = report.get("judge")
    if not judge:
        return []
    v = judge["verdicts"]
    return [f"- judge {judge['model']} (template {judge['template']}) asked about {judge['asked_about']} traces the "
            f"rule verifier could not decide: {v['CORRECT']} correct (kept if readable), {v['INCORRECT']} incorrect, "
            f"{v['NOT_ATTEMPTED']} not attempted, {judge['errors']} unparseable replies"]


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.write_text("".join(json_text(r, default=str) + "\n" for r in rows), encoding="utf-8")


def write_filter_output(out: Path, kept: Sequence[Trace], rejected: Sequence[tuple[Trace, list[str]]],
                        cfg: FilterConfig, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write kept.jsonl, rejected.jsonl, the chat dataset (`dataset/`, datasets.save_to_disk), train.jsonl
    (same rows as JSONL) and filter_report.{json,md}; return the report."""
    import datasets

    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "kept.jsonl", [{**t.source, "problem_id": t.problem_id, "messages": t.messages,
                                       "completion": t.completion, "correct": t.correct} for t in kept])
    _write_jsonl(out / "rejected.jsonl", [{**t.source, "problem_id": t.problem_id, "completion": t.completion,
                                           "correct": t.correct, "reason": rs[0], "reasons": rs}
                                          for t, rs in rejected])
    rows = [chat_row(t) for t in kept]
    _write_jsonl(out / "train.jsonl", rows)
    features = datasets.Features({"problem_id": datasets.Value("string"),
                                  "messages": [{"role": datasets.Value("string"),
                                                "content": datasets.Value("string")}],
                                  "gold": datasets.Value("string")})
    columns = {name: [r[name] for r in rows] for name in features}  # from_list can't build an empty dataset
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(out / "dataset"))
    report = {**filter_report(kept, rejected, cfg), **(extra or {})}
    (out / "filter_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "filter_report.md").write_text(format_report(report), encoding="utf-8")
    return report


def load_chat_dataset(path: str | Path) -> Any:
    """The chat-messages dataset of a filter output directory (`dataset/`, or `train.jsonl`), or a JSONL of
    rows with `messages`."""
    import datasets

    path = Path(path)
    if (path / "train.jsonl").is_file() and not (path / "train.jsonl").read_text(encoding="utf-8").strip():
        # nothing kept: datasets saves a 0-shard dataset that load_from_disk can't read back
        return datasets.Dataset.from_dict({"problem_id": [], "messages": [], "gold": []})
    if (path / "dataset").is_dir():
        return datasets.load_from_disk(str(path / "dataset"))
    jsonl = path / "train.jsonl" if path.is_dir() else path
    if not jsonl.is_file():
        raise UsageError(f"{path}: no dataset/ or train.jsonl; run `r1eval distill filter` to make one")
    rows = read_jsonl(jsonl)
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r.get("messages"), list)), None)
    if bad is not None:
        raise UsageError(f"{jsonl}: row {bad} has no 'messages' list")
    return datasets.Dataset.from_list([{"messages": r["messages"]} for r in rows])
