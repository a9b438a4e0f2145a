"""Does this run match the paper? The published scores of DeepSeek-R1's open distilled models and a verdict.

`benches/data/published_scores.jsonl` holds the DeepSeek-R1 paper's distilled-model table (Table 5 of
arXiv:2501.12948, the "Distilled Model Evaluation" table of the deepseek-ai/DeepSeek-R1 README): AIME 2024
pass@1 and cons@64, MATH-500, GPQA-Diamond and LiveCodeBench pass@1 and the Codeforces rating of
DeepSeek-R1-Distill-Qwen-1.5B/7B/14B/32B and -Llama-8B/70B. The paper's protocol: temperature 0.6, top-p
0.95, up to 32,768 tokens, pass@1 averaged over k samples per question (the README: 64; the paper: 4 to 64
depending on the test set's size).

A run whose model name (served name, directory or file name) contains a distill model's name and whose bench
is one of those gets `published` in summary.json: the paper's value on the run's scale (0.289 for 28.9%),
the run's own, and a verdict. The test compares the same problems, so its noise is the sampling of answers
within each problem, the run's and the paper's (assumed to sample as this run measured, at the paper's k):
SE^2 = sum_i p_i (1 - p_i) (1/n_i + 1/k) / P^2 over the P problems. `interval95` = run +- 1.96 SE,
`p_value` the two-sided z-test of "the paper's value is this run's"; consistent iff p >= 0.05 (the published
value inside the interval). When inconsistent, `likely_causes` lists what the run itself shows: truncation,
max tokens below 32,768, sampling fields other than R1's, a system prompt, tensor parallelism, the vLLM
version.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

ALPHA = 0.05
R1_MAX_TOKENS = 32768
R1_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0,
               "presence_penalty": 0.0, "frequency_penalty": 0.0}
PROTOCOL = ("temperature 0.6, top-p 0.95, max 32,768 tokens, no system prompt; pass@1 = mean correctness over "
            "k samples per question (README: 64 per query; paper: k = 4 to 64 by test set size)")
FULL_SIZE = {"aime24": 30, "math500": 500, "gpqa_diamond": 198}  # problems the paper's numbers cover
NOTES = {"livecodebench": "the paper's LiveCodeBench window is 2024-08-01 to 2025-01-31",
         "codeforces": "the paper rates on Codeforces contests; this bench's problem set may differ"}
_MODEL = re.compile(r"deepseek-r1-distill-(qwen|llama)-(\d+(?:\.\d+)?)b", re.IGNORECASE)


@lru_cache(maxsize=1)
def published_scores() -> tuple[dict[str, Any], ...]:
    """Every row of the shipped table."""
    from r1eval.benches.math import bundled_path

    with open(bundled_path("published_scores.jsonl"), encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def distill_model(name: str) -> str | None:
    """The distilled model a run's model name refers to ("DeepSeek-R1-Distill-Qwen-7B"), or None."""
    match = _MODEL.search(name or "")
    if not match:
        return None
    wanted = f"deepseek-r1-distill-{match[1]}-{match[2]}b".lower()
    return next((r["model"] for r in published_scores() if r["model"].lower() == wanted), None)


def _standard_error(per_problem: list[dict[str, Any]], paper_k: int) -> float:
    """Sampling SE of a pass@1 over fixed problems, this run's and the paper's draws together."""
    total = 0.0
    for row in per_problem:
        n, p = int(row["n"]), float(row["pass@1"])
        if n > 0:
            total += p * (1 - p) * (1 / n + 1 / paper_k)
    return math.sqrt(total) / len(per_problem) if per_problem else float("nan")


def likely_causes(summary: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What in this run differs from the paper's setup, measurable from summary.json and config.json."""
    causes = []
    if (summary.get("truncation_rate") or 0) > 0.05:
        causes.append(f"{summary['truncation_rate']:.1%} of samples hit max tokens (truncation)")
    max_tokens = config.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens < R1_MAX_TOKENS:
        causes.append(f"max tokens {max_tokens} < {R1_MAX_TOKENS}")
    for key, r1 in R1_SAMPLING.items():
        value = config.get(key)
        if key == "top_k" and value in (0, -1, None):
            continue
        if value is not None and value != r1:
            causes.append(f"{key} {value} (R1: {r1})")
    if config.get("server_defaults"):
        causes.append(f"{', '.join(config['server_defaults'])} left to the server (--standard-params-only)")
    if config.get("system_prompt"):
        causes.append("a system prompt (R1 uses none)")
    info = config.get("backend_info") or {}
    options = config.get("backend_options") or {}
    tp = info.get("tensor_parallel_size") or options.get("tensor_parallel_size")
    if tp and int(tp) > 1:
        causes.append(f"tensor parallel size {tp} (scores have moved with TP size: open-r1 #674)")
    vllm_version = info.get("vllm") or (config.get("versions") or {}).get("vllm")
    if vllm_version:
        causes.append(f"vLLM {vllm_version} (results differ across vLLM versions)")
    if (summary.get("unclosed_think_rate") or 0) > 0.05:
        causes.append(f"{summary['unclosed_think_rate']:.1%} of replies never closed </think>")
    return causes


def _comparison(row: dict[str, Any], summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Any] | None:
    """One published value against the run's."""
    metric, bench = row["metric"], row["bench"]
    paper_k = 64
    out: dict[str, Any] = {"metric": metric, "value": row["reported"] / 100 if row["scale"] == "percent"
                           else row["reported"], "reported": row["reported"], "n": paper_k if bench == "aime24" else None,
                           "protocol": PROTOCOL, "source": row["source"]}
    if out["n"] is None:
        out["n_note"] = "the paper gives k = 4 to 64 by test set size, not per bench"
    if bench in NOTES:
        out["note"] = NOTES[bench]
    if metric == "rating":
        value, ci = summary.get("rating"), summary.get("rating_ci95")
        out.update({"this_run": value, "interval95": ci, "p_value": None,
                    "p_value_reason": "a rating has no one-sample test here; the interval is the rating's bootstrap CI"})
        if value is None or not ci:
            out["verdict"] = "not comparable: the run has no rating"
        else:
            out["verdict"] = "consistent" if ci[0] <= out["value"] <= ci[1] else "inconsistent"
        return out
    if metric.startswith("cons@"):
        key = f"cons@{summary.get('n_samples')}"
        if key != metric or summary.get(metric) is None:
            return None
        out.update({"this_run": summary[metric], "interval95": None, "p_value": None, "verdict": "compared",
                    "p_value_reason": "majority vote has no sampling test here; compare the values"})
        return out
    per_problem = summary.get("per_problem") or []
    value = summary.get(metric)
    out["this_run"] = value
    full = FULL_SIZE.get(bench)
    if value is None or not per_problem:
        out.update({"interval95": None, "p_value": None, "verdict": "not comparable: no samples"})
        return out
    if full is not None and len(per_problem) != full:
        out.update({"interval95": None, "p_value": None,
                    "verdict": f"not comparable: the run scored {len(per_problem)} of the {full} problems"})
        return out
    se = _standard_error(per_problem, paper_k)
    lo, hi = value - 1.96 * se, value + 1.96 * se
    if se > 0:
        z = (value - out["value"]) / se
        p = math.erfc(abs(z) / math.sqrt(2))
    else:
        p = 1.0 if math.isclose(value, out["value"], abs_tol=5e-4) else 0.0
    out.update({"interval95": [max(0.0, lo), min(1.0, hi)], "standard_error": se, "p_value": p,
                "verdict": "consistent" if p >= ALPHA else "inconsistent"})
    if p < ALPHA:
        out["likely_causes"] = likely_causes(summary, config) or [
            "nothing this run records differs from the paper's setup (grader, data or the model's weights may)"]
    return out


def published_block(summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Any] | None:
    """summary.json's `published`: the headline comparison, the others under `also`; None when the run's
    model and bench are not in the table."""
    model = distill_model(str(config.get("model") or summary.get("model") or ""))
    bench = str(summary.get("bench"))
    if model is None:
        return None
    rows = [r for r in published_scores() if r["model"] == model and r["bench"] == bench]
    comparisons = [c for c in (_comparison(r, summary, config) for r in rows) if c is not None]
    if not comparisons:
        return None
    head, *also = comparisons
    return {"model": model, "matched_by": "model name", **head, **({"also": also} if also else {})}


def _points(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric == "rating" else f"{100 * value:.1f}"


def published_line(published: dict[str, Any]) -> str:
    """'published 28.9, this run 27.1 [22.4, 31.9]: consistent (p = 0.52)' and, when inconsistent, the causes."""
    metric = published["metric"]
    interval = published.get("interval95")
    text = (f"{published['model']} {metric}: published {_points(published['value'], metric)}, this run "
            f"{_points(published.get('this_run'), metric)}"
            + (f" [{_points(interval[0], metric)}, {_points(interval[1], metric)}]" if interval else "")
            + f": {published['verdict']}"
            + (f" (p = {published['p_value']:.3g})" if published.get("p_value") is not None else ""))
    if published.get("likely_causes"):
        text += "; likely causes: " + "; ".join(published["likely_causes"])
    for other in published.get("also", []):
        text += (f"; {other['metric']} published {_points(other['value'], other['metric'])}, this run "
                 f"{_points(other.get('this_run'), other['metric'])}")
    return text


def report_lines(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """report.md's "Does this match the paper?" section for (label, summary) pairs; [] when none matches."""
    lines = [f"- {label} on {summary['bench']}: {published_line(summary['published'])}"
             for label, summary in runs if summary.get("published")]
    if not lines:
        return []
    return ["## Does this match the paper?", "",
            "The DeepSeek-R1 paper's published score for the run's model (matched by name) against this run, with "
            "the 95% interval of the difference's sampling noise over the same problems (`r1eval.published`).",
            "", *lines, ""]
