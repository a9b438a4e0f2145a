"""`r1eval judge calibrate`: how often a judge is wrong, measured on rows a person (or a trusted grader)
labelled: agreement, false-positive rate (judge says CORRECT / label-false rows), false-negative rate (judge
says not CORRECT, NOT_ATTEMPTED included / label-true rows), each with a 95% Wilson interval, and Cohen's
kappa with a bootstrap interval. A pairwise template (`{answer_1}`, `{answer_2}`) is run twice, reference
first and answer first; `position_flip_rate` is the share of rows whose verdict changes with the order.

Replies unparseable into a grade are `judge_errors`: counted, and left out of every rate (each figure says
over how many rows it was computed). Verdicts are cached in the output directory (`verdicts.jsonl`, keyed by
the judge's identity and the exact prompt), so a rerun asks only for the missing ones.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from r1eval.errors import UsageError
from r1eval.judge.cache import VerdictCache, ask_cached
from r1eval.judge.client import JudgeSpec, prompt_key
from r1eval.judge.stage import NO_ANSWER, cohen_kappa, final_answer
from r1eval.records import read_jsonl

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int) -> list[float] | None:
    """95% Wilson score interval of a binomial proportion; None for n = 0."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + Z95**2 / n
    center = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return [max(0.0, center - half), min(1.0, center + half)]


def read_labelled(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Labelled rows, checked before the judge is asked anything: question, reference, completion strings
    and `label` a JSON boolean."""
    rows = read_jsonl(path)
    if not rows:
        raise UsageError(f"{path} has no rows")
    for i, row in enumerate(rows, 1):
        if not isinstance(row.get("label"), bool):
            got = "no 'label'" if "label" not in row else f"label {json.dumps(row['label'])}"
            raise UsageError(f"{path}: row {i} has {got}; every row needs 'label': true or false (the correct "
                             "verdict) to calibrate against")
        for key in ("question", "reference", "completion"):
            if not isinstance(row.get(key), str):
                raise UsageError(f"{path}: row {i} has no '{key}' string; rows need question, reference, "
                                 "completion and label")
    return rows[:limit] if limit else rows


def _prompts(spec: JudgeSpec, row: dict[str, Any], answer: str, swapped: bool) -> str:
    template = spec.template
    assert template is not None
    if template.pairwise:
        first, second = (answer, row["reference"]) if swapped else (row["reference"], answer)
        return template.render(question=row["question"], answer_1=first, answer_2=second)
    return template.render(question=row["question"], reference=row["reference"], answer=answer)


def label_metrics(labels: list[bool], verdicts: list[str | None], seed: int = 0) -> dict[str, Any]:
    """Agreement, FP and FN rates with Wilson CIs, kappa with a bootstrap CI, over rows with a verdict."""
    pairs = [(label, v == "CORRECT") for label, v in zip(labels, verdicts, strict=True) if v is not None]
    n = len(pairs)
    agree = sum(a == b for a, b in pairs)
    negatives = [b for a, b in pairs if not a]
    positives = [b for a, b in pairs if a]
    fp, fn = sum(negatives), sum(not b for b in positives)
    kappa = cohen_kappa([a for a, _ in pairs], [b for _, b in pairs])
    kappa_ci = None
    if kappa is not None:
        rng = np.random.default_rng(seed)
        arr = np.asarray(pairs, dtype=bool)
        draws = [cohen_kappa(list(s[:, 0]), list(s[:, 1])) for s in (arr[rng.integers(0, n, n)] for _ in range(2000))]
        finite = [d for d in draws if d is not None]
        kappa_ci = [float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975))] if finite else None
    return {"rows_scored": n,
            "agreement": agree / n if n else None, "agreement_ci95": wilson_interval(agree, n),
            "false_positive_rate": fp / len(negatives) if negatives else None,
            "false_positive_rate_ci95": wilson_interval(fp, len(negatives)), "label_false_rows": len(negatives),
            "false_negative_rate": fn / len(positives) if positives else None,
            "false_negative_rate_ci95": wilson_interval(fn, len(positives)), "label_true_rows": len(positives),
            "kappa": kappa, "kappa_ci95": kappa_ci,
            "judge_verdicts": {g: sum(v == g for v in verdicts) for g in ("CORRECT", "INCORRECT", "NOT_ATTEMPTED")},
            "judge_errors": sum(v is None for v in verdicts)}


def run_calibration(spec: JudgeSpec, input_path: Path, out: Path, limit: int | None = None,
                    progress: bool = False) -> dict[str, Any]:
    """Ask the judge about every labelled row (both orders for a pairwise template) and measure it."""
    rows = read_labelled(input_path, limit)
    if out.exists() and not out.is_dir():
        raise UsageError(f"`output` {out} is a file; pass a directory")
    out.mkdir(parents=True, exist_ok=True)
    template = spec.template
    assert template is not None
    identity = spec.identity()
    cache = VerdictCache(out / "verdicts.jsonl")
    orders = (False, True) if template.pairwise else (False,)
    keys: dict[tuple[int, bool], str | None] = {}
    prompts: dict[str, str] = {}
    for i, row in enumerate(rows):
        answer = final_answer(row["completion"])
        for swapped in orders:
            if answer is None:
                keys[(i, swapped)] = None
                continue
            prompt = _prompts(spec, row, answer, swapped)
            keys[(i, swapped)] = key = prompt_key(identity, prompt)
            prompts[key] = prompt
    ask_cached(spec, prompts, cache, "judge prompts", progress)

    def verdict(i: int, swapped: bool) -> str | None:
        key = keys[(i, swapped)]
        return "NOT_ATTEMPTED" if key is None else cache.replies[key]["verdict"]

    labels = [row["label"] for row in rows]
    first = [verdict(i, False) for i in range(len(rows))]
    report: dict[str, Any] = {"input": str(input_path), "rows": len(rows), "judge": identity,
                              "judge_options": spec.options(), "not_sent_to_judge": sum(k is None for k in
                                                                                        (keys[(i, False)] for i in range(len(rows)))),
                              "not_sent_reason": NO_ANSWER, **label_metrics(labels, first)}
    if template.pairwise:
        second = [verdict(i, True) for i in range(len(rows))]
        both = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
        flips = sum(a != b for a, b in both)
        report["order"] = "reference as answer 1; `swapped` has the answer as answer 1"
        report["swapped"] = label_metrics(labels, second)
        report["position_flip_rate"] = flips / len(both) if both else None
        report["position_flip_rate_ci95"] = wilson_interval(flips, len(both))
        report["position_compared_rows"] = len(both)
    from r1eval.rundir import write_json

    write_json(out / "calibration.json", report)
    return report


def _pct(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else "")


def format_calibration(report: dict[str, Any]) -> str:
    """The calibration figures as a small table."""
    judge = report["judge"]
    rows = [("judge", f"{judge['model']} ({judge['backend']}, template {judge['template']})"),
            ("rows", f"{report['rows']} ({report['rows_scored']} scored, {report['judge_errors']} judge errors)"),
            ("agreement with labels", _pct(report["agreement"], report["agreement_ci95"])),
            ("false-positive rate", _pct(report["false_positive_rate"], report["false_positive_rate_ci95"])
             + f" over {report['label_false_rows']} label-false rows"),
            ("false-negative rate", _pct(report["false_negative_rate"], report["false_negative_rate_ci95"])
             + f" over {report['label_true_rows']} label-true rows"),
            ("Cohen's kappa", _pct(report["kappa"], report["kappa_ci95"]))]
    if "position_flip_rate" in report:
        rows.append(("position flip rate", _pct(report["position_flip_rate"], report["position_flip_rate_ci95"])
                     + f" over {report['position_compared_rows']} rows"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
