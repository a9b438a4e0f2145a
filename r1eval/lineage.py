"""Where an evaluated checkpoint came from, and what its training cost.

`r1eval grpo` and `r1eval distill train` write a training directory (rl/training.py): config.json with
`kind` grpo or sft, steps.jsonl (one row per optimizer step), result.json (steps, loss, seconds),
checkpoints/checkpoint-N/, the final model in final/ (grpo) or model/ (sft), gate/best/. An evaluation of
one of those models records `trained_from` in its config.json (`training_source`): the training
directory, the model's place in it and its optimizer step. `r1eval report` follows it (`load_training`) to
the training curves and to the compute of the arm (`training_compute`); a training directory given to
`r1eval report` directly is read the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINING_KINDS = {"grpo": "GRPO (RL)", "sft": "SFT (distillation)"}
STEPS_FILE = "steps.jsonl"
OLD_STEPS_FILE = "train_log.jsonl"  # older SFT runs


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def training_kind(path: Path) -> str | None:
    """`grpo` or `sft` when `path` is a training directory (config.json with that `kind`), else None."""
    config = _json(path / "config.json")
    kind = config.get("kind") if config else None
    return kind if kind in TRAINING_KINDS else None


def _step_of(model: Path, training: Path) -> int | None:
    """The optimizer step of the model at `model` inside the training directory `training`."""
    rel = model.relative_to(training).parts
    if rel and rel[0] == "checkpoints" and len(rel) > 1 and rel[1].startswith("checkpoint-"):
        state = _json(model / "trainer_state.json")
        if state and isinstance(state.get("global_step"), int):
            return state["global_step"]
        tail = rel[1].removeprefix("checkpoint-")
        return int(tail) if tail.isdigit() else None
    if rel[:2] == ("gate", "best"):
        best = _json(training / "gate" / "best.json")
        return best.get("step") if best else None
    if len(rel) > 1 and rel[0] == "gate" and rel[1].startswith("step-") and rel[1][5:].isdigit():
        return int(rel[1][5:])
    result = _json(training / "result.json")  # final/ or model/: the end of training
    return result.get("global_steps") if result else None


def training_source(model_path: str | Path | None) -> dict[str, Any] | None:
    """{run_dir, kind, model (path inside it), step} when the model directory lies inside a training
    directory (up to three levels down: final/, model/, checkpoints/checkpoint-N/, gate/best/); else None."""
    if not model_path:
        return None
    model = Path(model_path).expanduser()
    if not model.is_dir():
        return None
    model = model.resolve()
    for parent in list(model.parents)[:3]:
        kind = training_kind(parent)
        if kind:
            return {"run_dir": str(parent), "kind": kind, "model": str(model.relative_to(parent)),
                    "step": _step_of(model, parent)}
    return None


@dataclass
class Training:
    """One training directory as the report reads it."""

    path: Path
    kind: str
    config: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    evaluated_step: int | None = None  # the step of the checkpoint an evaluation ran on, when known


def read_steps(path: Path) -> list[dict[str, Any]]:
    """steps.jsonl rows in step order, the last row of each step (a resumed run logs some steps twice);
    a torn line is skipped."""
    rows: dict[Any, dict[str, Any]] = {}
    if path.is_file():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows[row.get("step", i)] = row
    return [rows[k] for k in sorted(rows, key=lambda s: (not isinstance(s, int | float), s))]


def load_training(path: Path) -> Training | None:
    """The training directory at `path` (None when it is not one)."""
    kind = training_kind(path)
    if kind is None:
        return None
    steps_path = next((path / n for n in (STEPS_FILE, OLD_STEPS_FILE) if (path / n).is_file()), path / STEPS_FILE)
    return Training(path, kind, _json(path / "config.json") or {}, read_steps(steps_path), _json(path / "result.json"))


def _teacher_tokens(config: dict[str, Any]) -> tuple[int | None, str]:
    """Teacher tokens behind an SFT run's data: the filter report next to its training file counts every
    trace before filtering (count x mean tokens, so within count/20 of the exact sum)."""
    data = config.get("settings", {}).get("data")
    report = _json(Path(data).parent / "filter_report.json") if data else None
    stats = ((report or {}).get("length_tokens") or {}).get("all")
    if not stats or not stats.get("count"):
        return None, "unknown: no filter_report.json with token lengths next to the training data"
    return round(stats["count"] * stats["mean"]), "teacher traces before filtering (filter_report.json)"


def training_compute(t: Training) -> dict[str, Any]:
    """Optimizer steps, tokens generated, tokens trained on and wall time of a training run; a value that
    cannot be known from the directory is None with the reason in `*_note`."""
    steps = t.steps
    n_steps = (t.result or {}).get("global_steps")
    if n_steps is None and steps:
        n_steps = max(int(s.get("step", 0)) for s in steps)
    out: dict[str, Any] = {"kind": t.kind, "run_dir": str(t.path), "optimizer_steps": n_steps,
                           "evaluated_step": t.evaluated_step}
    if t.kind == "grpo":
        per_step = (t.config.get("plan") or {}).get("completions_per_step")
        lengths = [s.get("completion_length") for s in steps]
        if per_step and steps and all(isinstance(v, int | float) for v in lengths):
            generated = round(sum(float(v) * per_step for v in lengths))
            out.update(tokens_generated=generated, tokens_generated_note="student rollouts (mean completion "
                       "length x completions per step, summed over steps.jsonl)", tokens_trained_on=generated,
                       tokens_trained_on_note="the rollouts' completion tokens (GRPO's loss)")
        else:
            out.update(tokens_generated=None, tokens_trained_on=None,
                       tokens_generated_note="unknown: steps.jsonl lacks completion_length or config.json its plan")
    else:
        out["tokens_generated"], out["tokens_generated_note"] = _teacher_tokens(t.config)
        seen = [s.get("num_tokens") for s in steps if isinstance(s.get("num_tokens"), int | float)]
        out["tokens_trained_on"] = round(seen[-1]) if seen else None
        out["tokens_trained_on_note"] = ("prompt + reply tokens the trainer saw (TRL num_tokens)" if seen else
                                         "unknown: steps.jsonl has no num_tokens")
    out.update(_wall_time(t))
    return out


def _wall_time(t: Training) -> dict[str, Any]:
    """Training wall time: result.json's seconds for a run trained in one go; for a resumed run the sum of
    the logged step times (GRPO) or the span of the step log (SFT), said so in the note."""
    result = t.result or {}
    resumed = bool(result.get("resumed_from") or t.config.get("resumes"))
    if result.get("train_seconds") is not None and not resumed:
        return {"wall_seconds": float(result["train_seconds"]), "wall_note": "result.json"}
    step_times = [float(s["step_time"]) for s in t.steps if isinstance(s.get("step_time"), int | float)]
    if step_times and len(step_times) == len(t.steps):
        return {"wall_seconds": round(sum(step_times), 1), "wall_note": "sum of steps.jsonl step times (resumed run)"}
    times = [float(s["time"]) for s in t.steps if isinstance(s.get("time"), int | float)]
    if len(times) > 1:
        per_step = (times[-1] - times[0]) / (len(times) - 1)
        return {"wall_seconds": round(times[-1] - times[0] + per_step, 1),
                "wall_note": "span of steps.jsonl times (resumed run; pauses between resumes included)"}
    return {"wall_seconds": None, "wall_note": "unknown: no result.json and no step times"}
