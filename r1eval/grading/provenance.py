"""What a run records about the grader that judged it, and what a changed grader means for resuming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def recorded_grader(config: dict[str, Any]) -> dict[str, Any]:
    """The grader a run's config.json records (`bench_provenance.grader`), or {}."""
    return (config.get("bench_provenance") or {}).get("grader") or {}


def grader_change_message(path: Path, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The one-line refusal for resuming a run graded by another version of the same grader (or the same
    version over another math-verify); None when the grader is the same or another grader altogether."""
    was, now = recorded_grader(old), recorded_grader(new)
    if not was or not now or was.get("name") != now.get("name") or was == now:
        return None

    differing = [k for k in {**was, **now} if k not in ("name", "version") and was.get(k) != now.get(k)]

    def named(grader: dict[str, Any]) -> str:
        extra = ", ".join(f"{k} {grader.get(k)}" for k in differing)
        return f"v{grader.get('version')}" + (f" ({extra})" if extra else "")

    return (f"{path} holds a run with different bench_provenance: it was graded with {was.get('name')} "
            f"{named(was)} and this r1eval grades with {named(now)}; "
            f"regrade it first (r1eval grade --run {path}), then rerun to resume, or pass a new `output`")


# --- the grader's measured error rates ---------------------------------------------------------------------

ERROR_RATES_FILE = Path(__file__).with_name("error_rates.json")  # written by benchmarks/grading.py


def wilson_interval(errors: int, cases: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a rate `errors / cases` (0..1 when there are no cases)."""
    if cases == 0:
        return 0.0, 1.0
    p = errors / cases
    centre = (p + z * z / (2 * cases)) / (1 + z * z / cases)
    half = z * ((p * (1 - p) / cases + z * z / (4 * cases * cases)) ** 0.5) / (1 + z * z / cases)
    return max(0.0, centre - half), min(1.0, centre + half)


def error_rates(verdicts: list[bool], labels: list[bool]) -> dict[str, Any]:
    """False-positive rate (accepted among the labelled-wrong) and false-negative rate (rejected among the
    labelled-right), each with its 95% Wilson interval."""
    negatives = sum(not label for label in labels)
    positives = len(labels) - negatives
    fp = sum(v and not label for v, label in zip(verdicts, labels, strict=True))
    fn = sum(label and not v for v, label in zip(verdicts, labels, strict=True))
    return {"cases": len(labels), "labelled_incorrect": negatives, "labelled_correct": positives,
            "false_positives": fp, "false_negatives": fn,
            "fp_rate": fp / negatives if negatives else None, "fp_ci95": list(wilson_interval(fp, negatives)),
            "fn_rate": fn / positives if positives else None, "fn_ci95": list(wilson_interval(fn, positives))}


def measured_error_rates(grader: dict[str, Any]) -> dict[str, Any]:
    """The error rates measured for this grader version on the labelled corpora (`ERROR_RATES_FILE`): the
    pooled figures and the corpus they come from; `{"missing": reason}` when none were measured for it."""
    import json

    try:
        table = json.loads(ERROR_RATES_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"missing": f"no measured error rates ({ERROR_RATES_FILE.name} unreadable)"}
    entry = table.get(str(grader.get("name")))
    if not entry:
        return {"missing": f"no error rates measured for grader {grader.get('name')}"}
    if str(entry.get("version")) != str(grader.get("version")):
        return {"missing": f"error rates were measured for v{entry.get('version')}, not v{grader.get('version')}"}
    return {**entry["all"], "corpus": entry["corpus"], "measured": entry.get("measured")}


def with_error_rates(grader: dict[str, Any] | None) -> dict[str, Any] | None:
    """A summary's `grader` block with the version's measured error rates (`error_rates`) added."""
    if not grader or not grader.get("name"):
        return grader
    return {**grader, "error_rates": measured_error_rates(grader)}


def error_rates_line(grader: dict[str, Any] | None) -> str | None:
    """`grader: r1eval-math v4, FP 0.3% [0.1, 0.9], FN 1.2% [0.5, 2.6] on 1,020 labelled cases`; None without
    measured rates."""
    rates = (grader or {}).get("error_rates") or {}
    if rates.get("fp_rate") is None or rates.get("fn_rate") is None:
        return None

    def pct(rate: float, ci: list[float]) -> str:
        return f"{100 * rate:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"

    return (f"grader: {grader['name']} v{grader['version']}, FP {pct(rates['fp_rate'], rates['fp_ci95'])}, "
            f"FN {pct(rates['fn_rate'], rates['fn_ci95'])} on {rates['cases']:,} labelled cases")
