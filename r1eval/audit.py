"""`r1eval audit RUN_DIR|graded.jsonl [--out DIR]`: re-grade every sample with independent graders and
list where they disagree.

Graders (each gives an extracted answer and a verdict):
- math: `recorded` (the verdict stored in the run or graded file), `r1eval` (today's `MathGrader`),
  `math-verify` (plain `math_verify.verify(parse(gold), parse(region))` on the whole answer region, the gold
  written as `$gold$`), `string-match` (the last `\\boxed{}` against the gold, both normalised by
  latex2sympy2's `normalize_latex` and stripped of spaces, `$` and a trailing period);
- mcq: `recorded`, `r1eval` (today's strict extractor, as the bench grades) and `lenient`
  (`extract_choice(..., lenient=True)`).

A sample is a disagreement when any two graders' verdicts differ. Its row in `audit.jsonl` carries the ids,
the gold, every grader's answer and verdict, and `kind` (the first of `kinds` that applies):
`recorded_vs_regraded` (the stored verdict is not what r1eval says today, e.g. a run graded by an older
grader version), `extraction_differs` (two graders with different verdicts read different answers),
`equivalence_differs` (they read the same answer but judge it against the gold differently).
`audit_summary.json` has the counts, agreement rates per grader pair, accuracy per grader, and the
recorded and current grader name/version.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1eval.errors import UsageError
from r1eval.records import json_text
from r1eval.workers import process_pool

if TYPE_CHECKING:
    from r1eval.grading.math import MathGrader

MATH_GRADERS = ("recorded", "r1eval", "math-verify", "string-match")
MCQ_GRADERS = ("recorded", "r1eval", "lenient")
KINDS = ("recorded_vs_regraded", "extraction_differs", "equivalence_differs", "judge_differs")
_POOL_MIN_CHARS = 1_000_000  # less answer text than this is graded in-process (a pool takes ~1 s to start)
_CHUNK = 8  # samples per pool task: small enough for a smooth progress bar


# ---------------------------------------------------------------------------------------------------
# the independent math graders (run in worker processes for large inputs)

@lru_cache(maxsize=1)
def _math_grader() -> MathGrader:
    """This process's in-process MathGrader (its memo kept across chunks)."""
    from r1eval.grading.math import MathGrader

    return MathGrader(workers=1)


def _plain_math_verify(region: str | None, gold: str) -> tuple[str | None, bool]:
    """Stock math-verify on the whole answer region, the gold parsed as `$gold$`."""
    from math_verify import parse, verify

    if region is None or not region.strip():
        return None, False
    try:
        delimited = re.search(r"(?<!\\)\$", gold) or "\\boxed" in gold
        gold_parsed = parse(gold if delimited else f"${gold}$") or parse(gold)
        pred = parse(region)
        if not pred:
            return None, False
        return str(pred[-1]), bool(gold_parsed) and bool(verify(gold_parsed, pred))
    except Exception:  # math-verify can raise on exotic input
        return None, False


def normalized_string(text: str) -> str:
    """`text` as the string-match grader compares it: normalize_latex (boxes, \\left/\\right, \\dfrac,
    units, \\text{}), then no spaces, `$` or trailing period."""
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, normalize_latex

    config = NormalizationConfig(basic_latex=True, units=True, malformed_operators=True, nits=False, boxed="all",
                                 equations=False)
    with contextlib.suppress(Exception):  # keep the raw text where the normaliser gives up
        text = normalize_latex(text, config)
    return re.sub(r"[\s$]+", "", text).rstrip(".")


def _string_match(region: str | None, gold: str) -> tuple[str | None, bool]:
    from r1eval.grading.math import last_boxed

    boxed = last_boxed(region) if region else None
    if boxed is None:
        return None, False
    return boxed, normalized_string(boxed) == normalized_string(gold)


def grade_math_items(items: Sequence[tuple[str, str]]) -> list[dict[str, tuple[str | None, bool]]]:
    """r1eval, plain math-verify and string-match on (completion, gold) pairs."""
    from r1eval.reasoning import answer_region

    verdicts = _math_grader().grade(list(items))
    out = []
    for (completion, gold), verdict in zip(items, verdicts, strict=True):
        region = answer_region(completion)
        out.append({"r1eval": (verdict.extracted_answer, bool(verdict.correct)),
                    "math-verify": _plain_math_verify(region, gold),
                    "string-match": _string_match(region, gold)})
    return out


# ---------------------------------------------------------------------------------------------------
# reading the input


def load_input(path: Path, kind: str | None) -> tuple[list[dict[str, Any]], str, dict[str, Any] | None, str]:
    """(rows, kind, config or None, source label) for a run directory or a graded JSONL file (read leniently:
    any fields, a torn last line of a run still writing skipped)."""
    if path.is_dir():
        config_path, samples_path = path / "config.json", path / "samples.jsonl"
        if not config_path.is_file():
            raise UsageError(f"{path} is not a run directory (no config.json); pass a run directory or a "
                             "graded .jsonl file")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{config_path} is not valid JSON ({exc})") from None
        if not samples_path.is_file():
            raise UsageError(f"{path} has no samples.jsonl; run the benchmark first")
        rows = _answer_rows(samples_path)
        source = str(path)
    elif path.is_file():
        config, rows, source = None, _answer_rows(path), str(path)
    else:
        raise UsageError(f"{path} not found; pass a run directory or a graded .jsonl file")
    if not rows:
        raise UsageError(f"{source} has no samples to audit")
    for i, row in enumerate(rows, 1):
        if not isinstance(row.get("completion"), str):
            raise UsageError(f"{source}: row {i} has no 'completion' string")
        if _gold(row) is None:
            raise UsageError(f"{source}: row {i} has no 'gold' or 'answer' to grade against (graded rows "
                             "that name only a problem_id need their gold added)")
    return rows, kind or _kind_of(config, rows, source), config, source


def answer_part(completion: str) -> str:
    """What every grader reads of a completion: `</think>` and the answer region after it, `<think>` alone
    for reasoning that never closed (no answer), or the whole reply when it has no tags. Grading this gives
    the same verdicts as grading the completion, and a run of long reasoning fits in memory."""
    from r1eval.reasoning import THINK_CLOSE, THINK_OPEN, answer_region

    region = answer_region(completion)
    if region is None:
        return THINK_OPEN
    return completion if region is completion or THINK_CLOSE not in completion else THINK_CLOSE + region


def _answer_rows(path: Path) -> list[dict[str, Any]]:
    """samples.jsonl (or graded JSONL) rows, read leniently one at a time, each completion cut to its
    `answer_part`."""
    from r1eval.rundir import iter_rows

    rows = []
    for _, row in iter_rows(path):
        if isinstance(row.get("completion"), str):
            row["completion"] = answer_part(row["completion"])
        rows.append(row)
    return rows


def _gold(row: dict[str, Any]) -> Any:
    for key in ("gold", "answer"):
        if row.get(key) not in (None, ""):
            return row[key]
    return None


def _kind_of(config: dict[str, Any] | None, rows: list[dict[str, Any]], source: str) -> str:
    """math or mcq: from the recorded grader, else the registry, else the shape of the golds."""
    grader = ((config or {}).get("bench_provenance") or {}).get("grader") or {}
    kind = {"r1eval-math": "math", "r1eval-mcq": "mcq"}.get(str(grader.get("name")))
    if kind is None and config and config.get("bench"):
        from r1eval.benches import REGISTRY

        bench = REGISTRY.get(str(config["bench"]))
        if bench is not None and bench.needs_sandbox:
            raise UsageError(f"{source}: audit re-grades math and multiple-choice runs; a code bench's verdicts "
                             "come from running tests (see the sandbox's own verdicts in samples.jsonl)")
        kind = bench.grader_family if bench is not None else None
    if kind not in FAMILIES:
        letters = all(re.fullmatch(r"\(?[A-Ja-j]\)?", str(_gold(r)).strip()) for r in rows)
        kind = "mcq" if letters else "math"
    return kind


# ---------------------------------------------------------------------------------------------------
# grading and comparing


def _recorded(row: dict[str, Any]) -> tuple[str | None, bool] | None:
    if "correct" not in row:
        return None
    answer = row.get("extracted_answer")
    return (None if answer is None else str(answer)), bool(row["correct"])


def _grade_mcq(rows: list[dict[str, Any]], workers: int, progress: bool) -> list[dict[str, tuple[str | None, bool]]]:
    from tqdm import tqdm

    from r1eval.benches import get_bench
    from r1eval.benches.gpqa import problem_from_record

    bench = get_bench("gpqa_diamond")
    out = []
    for row in tqdm(rows, desc="audit", unit="sample", disable=not progress, dynamic_ncols=True):
        problem = problem_from_record(row)
        strict = bench.grade_one(problem, row["completion"])
        lenient = bench.grade_one(problem, row["completion"], lenient=True)
        out.append({"r1eval": (strict.extracted_answer, strict.correct),
                    "lenient": (lenient.extracted_answer, lenient.correct)})
    return out


def _grade_math(rows: list[dict[str, Any]], workers: int, progress: bool) -> list[dict[str, tuple[str | None, bool]]]:
    from tqdm import tqdm

    from r1eval.grading.math import normalize_gold

    items = [(row["completion"], normalize_gold(_gold(row))) for row in rows]
    unique = list(dict.fromkeys(items))
    bar = tqdm(total=len(unique), desc="audit", unit="sample", disable=not progress, dynamic_ncols=True)
    results: dict[tuple[str, str], dict[str, tuple[str | None, bool]]] = {}
    chunks = [unique[i:i + _CHUNK] for i in range(0, len(unique), _CHUNK)]
    try:
        if workers <= 1 or len(chunks) < 2 or sum(len(c) for c, _ in unique) < _POOL_MIN_CHARS:
            for chunk in chunks:
                results.update(zip(chunk, grade_math_items(chunk), strict=True))
                bar.update(len(chunk))
        else:
            with process_pool(min(workers, len(chunks)), ["math_verify", "r1eval.grading.math", "r1eval.audit"]) as pool:
                for chunk, graded in zip(chunks, pool.map(grade_math_items, chunks), strict=True):
                    results.update(zip(chunk, graded, strict=True))
                    bar.update(len(chunk))
    finally:
        bar.close()
    return [results[item] for item in items]


def _same_answer(a: str | None, b: str | None, kind: str) -> bool:
    """Whether two graders read the same answer (letters: equal strings; math: or math-verify-equivalent)."""
    if a is None or b is None:
        return a is b
    if FAMILIES[kind].letter_answers or a.strip() == b.strip():
        return a.strip() == b.strip()
    if normalized_string(a) == normalized_string(b):
        return True
    return _math_grader().equivalent(a, b)


def _disagreement_kinds(graded: dict[str, tuple[str | None, bool]], kind: str) -> list[str]:
    kinds = set()
    if "recorded" in graded and graded["recorded"][1] != graded["r1eval"][1]:
        kinds.add("recorded_vs_regraded")
    others = [g for g in graded if g != "recorded"]
    for a, b in itertools.combinations(others, 2):
        if graded[a][1] != graded[b][1] and "judge" in (a, b):  # the LLM judge reads no answer of its own
            kinds.add("judge_differs")
        elif graded[a][1] != graded[b][1]:
            same = _same_answer(graded[a][0], graded[b][0], kind)
            kinds.add("equivalence_differs" if same else "extraction_differs")
    return [k for k in KINDS if k in kinds]


def _ids(row: dict[str, Any], index: int) -> dict[str, Any]:
    if "problem_id" in row:
        ids = {"problem_id": row["problem_id"]}
        if "sample_index" in row:
            ids["sample_index"] = row["sample_index"]
        return ids
    return {"id": row.get("id", index)}


def audit_rows(rows: list[dict[str, Any]], kind: str, workers: int = 1, progress: bool = False,
               extra: dict[str, list[tuple[str | None, bool] | None]] | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Re-grade `rows`; return (one row per disagreement, summary counts and agreement rates). `extra` adds
    graders by name (the LLM judge): a verdict per row, None where it has none (left out of its rates)."""
    family = FAMILIES[kind]
    regraded = family.regrade(rows, workers, progress)
    names = [g for g in family.graders
             if g != "recorded" or all(_recorded(r) is not None for r in rows)]
    per_sample = []
    for row, graded in zip(rows, regraded, strict=True):
        recorded = _recorded(row)
        per_sample.append({**({"recorded": recorded} if "recorded" in names and recorded else {}), **graded})
    for name, verdicts in (extra or {}).items():
        names.append(name)
        for graded, verdict in zip(per_sample, verdicts, strict=True):
            if verdict is not None:
                graded[name] = verdict
    disagreements, by_kind = [], Counter()
    for i, (row, graded) in enumerate(zip(rows, per_sample, strict=True)):
        kinds = _disagreement_kinds(graded, kind)
        if not kinds:
            continue
        by_kind.update(kinds)
        disagreements.append({**_ids(row, i), "gold": _gold(row), "kind": kinds[0], "kinds": kinds,
                              "graders": {g: {"answer": graded[g][0], "correct": graded[g][1]} for g in names
                                          if g in graded}})
    agreement = {f"{a} vs {b}": _rate(graded[a][1] == graded[b][1] for graded in per_sample
                                      if a in graded and b in graded)
                 for a, b in itertools.combinations(names, 2)}
    summary = {"kind": kind, "num_samples": len(rows), "num_disagreements": len(disagreements), "graders": names,
               "agreement": agreement, "accuracy": {g: _rate(graded[g][1] for graded in per_sample if g in graded) for g in names},
               "by_kind": {k: by_kind[k] for k in KINDS}}
    return disagreements, summary



@dataclass(frozen=True)
class AuditFamily:
    """How audit re-grades one grader family (a bench's `grader_family`)."""

    graders: tuple[str, ...]  # the columns of the audit, "recorded" first
    regrade: Callable[[list[dict[str, Any]], int, bool], list[dict[str, tuple[str | None, bool]]]]
    letter_answers: bool  # answers are choice letters: the same answer is the same string
    bench: str  # a registered bench whose grader is the current one of this family


FAMILIES = {"math": AuditFamily(MATH_GRADERS, _grade_math, False, "math500"),
            "mcq": AuditFamily(MCQ_GRADERS, _grade_mcq, True, "gpqa_diamond")}

def _rate(values: Iterable[bool]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 6) if values else float("nan")


def _current_grader(kind: str) -> dict[str, Any]:
    from r1eval.benches import get_bench

    return get_bench(FAMILIES[kind].bench).provenance()["grader"]


# ---------------------------------------------------------------------------------------------------
# the command


def add_audit_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval audit`."""
    p = sub.add_parser("audit", help="re-grade a run with independent graders and list where they disagree")
    p.add_argument("path", type=Path, help="run directory (config.json + samples.jsonl) or a graded .jsonl "
                                          "(`r1eval grade --output`)")
    p.add_argument("--out", type=Path, help="where audit.jsonl and audit_summary.json go (default: the run "
                                            "directory, or the graded file's directory)")
    p.add_argument("--kind", choices=sorted(FAMILIES), help="grade as math or multiple choice (default: from "
                                                            "config.json, else from the golds)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes for the math graders (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from r1eval.judge.cli import add_judge_flags

    add_judge_flags(p)


def audit_judge(args: argparse.Namespace, rows: list[dict[str, Any]],
                out: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`--judge`: ({"judge": verdict per row}, the judge's identity) — the LLM judge as one more grader
    (its verdicts cached in the output directory); ({}, None) without --judge."""
    from r1eval.judge.cli import judge_spec
    from r1eval.judge.graders import audit_judge_grader

    spec = judge_spec(args, "answer-match")
    if spec is None:
        return {}, None
    return {"judge": audit_judge_grader(rows, _gold, spec, out, progress=not args.no_progress)}, spec.identity()


def cmd_audit(args: argparse.Namespace) -> int:
    """Run the audit and write audit.jsonl + audit_summary.json."""
    from r1eval.rundir import write_json

    if args.workers < 1:
        raise UsageError(f"`workers` must be >= 1 (got {args.workers})")
    rows, kind, config, source = load_input(args.path, args.kind)
    out = args.out or (args.path if args.path.is_dir() else args.path.parent)
    if out.exists() and not out.is_dir():
        raise UsageError(f"`out` {out} is a file; pass a directory")
    extra, judge = audit_judge(args, rows, out)
    disagreements, summary = audit_rows(rows, kind, workers=args.workers, progress=not args.no_progress,
                                        extra=extra)
    if judge:
        summary["judge"] = judge
    recorded = ((config or {}).get("bench_provenance") or {}).get("grader")
    current = _current_grader(kind)
    summary = {"source": source, **summary, "recorded_grader": recorded, "current_grader": current,
               "grader_changed": recorded is not None and (recorded.get("name"), recorded.get("version"))
               != (current.get("name"), current.get("version"))}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "audit.jsonl.tmp"
    tmp.write_text("".join(json_text(r) + "\n" for r in disagreements), encoding="utf-8")
    os.replace(tmp, out / "audit.jsonl")
    write_json(out / "audit_summary.json", summary)
    kinds = ", ".join(f"{k} {v}" for k, v in summary["by_kind"].items() if v) or "none"
    pairs = ", ".join(f"{k} {v:.4f}" for k, v in summary["agreement"].items())
    print(f"audited {summary['num_samples']} samples ({kind}): {summary['num_disagreements']} disagreements "
          f"({kinds}); agreement: {pairs}")
    if summary["grader_changed"]:
        print(f"note: recorded with {recorded.get('name')} v{recorded.get('version')}, "
              f"today's grader is {current.get('name')} v{current.get('version')}")
    print(f"wrote {out / 'audit.jsonl'} and {out / 'audit_summary.json'}")
    return 0
