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
            f"regrade it first (r1eval grade --run {path}), then rerun to resume, or pass a new --output")
