"""What differs between runs, said before any number is compared: the settings table, short default labels,
the warnings that make a comparison unfair, and the problems that flipped between two runs.

Settings come from each run's config.json (what `r1eval run` recorded) and summary.json. A comparison of
runs whose bench data, grader version or token cap differ is flagged (`comparability_warnings`); the
report and `r1eval gate` print those lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from r1eval.records import SAMPLING_IDENTITY


def grader_version(config: dict[str, Any], summary: dict[str, Any] | None = None) -> str | None:
    """The grader's name and version, e.g. `r1eval-math v3` (config's bench_provenance, else the summary's)."""
    grader = ((config.get("bench_provenance") or {}).get("grader") or (summary or {}).get("grader"))
    if not isinstance(grader, dict):
        return None
    name, version = grader.get("name"), grader.get("version")
    return f"{name} v{version}" if version is not None else str(name) if name else None


def _short_hash(value: Any) -> str | None:
    return value[:12] if isinstance(value, str) else None


def _value(v: Any) -> str:
    if v is None:
        return "-"
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


_SHORT = {"temperature": "T", "max_tokens": "max", "top_p": "top-p", "top_k": "top-k", "min_p": "min-p"}


def _config_field(name: str) -> Callable[[dict[str, Any], dict[str, Any]], Any]:
    return lambda config, summary: config.get(name)


# (row name, short name for a label or None, getter(config, summary)); sampling fields follow `n`
_SETTINGS: list[tuple[str, str | None, Callable[[dict[str, Any], dict[str, Any]], Any]]] = [
    ("model", None, lambda c, s: c.get("model") or s.get("model")),
    ("model sha256", None, lambda c, s: _short_hash(c.get("model_sha256"))),
    ("bench", None, lambda c, s: c.get("bench") or s.get("bench")),
    ("data sha256", "data", lambda c, s: _short_hash(c.get("data_sha256"))),
    ("problems", "problems", lambda c, s: s.get("num_problems", c.get("num_problems"))),
    ("n", "n", lambda c, s: s.get("n_samples", c.get("n"))),
    *[(f, _SHORT.get(f, f), _config_field(f)) for f in SAMPLING_IDENTITY],
    ("chat template sha256", "template", lambda c, s: _short_hash(c.get("chat_template_sha256"))),
    ("grader", "grader", grader_version),
    ("backend", "backend", lambda c, s: c.get("backend")),
    ("dtype", "dtype", lambda c, s: c.get("dtype")),
]
# settings whose difference makes pass@1 not comparable at face value
CRITICAL = {"data sha256": "bench data", "grader": "grader version", "max_tokens": "token cap"}


def settings_of(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The settings table's column for one run."""
    return {name: get(config, summary) for name, _, get in _SETTINGS}


def differing(columns: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the settings whose values are not all equal."""
    return [name for name, _, _ in _SETTINGS if len({_value(col.get(name)) for col in columns}) > 1]


def settings_table(labels: Sequence[str], columns: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the settings-difference table: one row per setting, one column per run, and a last
    column saying which rows differ (a difference in data, grader or token cap marked as not comparable)."""
    diff = set(differing(columns))
    rows = []
    for name, _, _ in _SETTINGS:
        cells = [_value(col.get(name)) for col in columns]
        mark = ("**differs: not comparable**" if name in CRITICAL else "**differs**") if name in diff else ""
        rows.append([f"**{name}**" if name in diff else name, *cells, mark])
    return ["setting", *labels, ""], rows


def comparability_warnings(a: tuple[str, dict[str, Any], dict[str, Any]],
                           b: tuple[str, dict[str, Any], dict[str, Any]]) -> list[str]:
    """One line per setting that makes runs a and b (label, config, summary) not comparable at face value:
    different bench data (same bench name, other data hash), grader version or max tokens."""
    sa, sb = settings_of(a[1], a[2]), settings_of(b[1], b[2])
    out = []
    for name, what in CRITICAL.items():
        if _value(sa.get(name)) != _value(sb.get(name)):
            out.append(f"warning: {a[0]} and {b[0]} differ in {what} ({name} {_value(sa.get(name))} vs "
                       f"{_value(sb.get(name))}); their scores are not comparable at face value")
    return out


def model_short_name(model: str | None) -> str:
    """A model's name without its directory (`runs/x/final` keeps `x/final`) or .gguf suffix."""
    if not model:
        return "model"
    parts = Path(model.rstrip("/")).parts
    name = "/".join(parts[-2:]) if parts and parts[-1] in ("final", "model", "best") and len(parts) > 1 else parts[-1]
    return name.removesuffix(".gguf")


def default_labels(columns: Sequence[dict[str, Any]], paths: Sequence[Path]) -> list[str]:
    """Short labels: the model's short name plus the settings that differ between the runs (`T=1.0`,
    `max=256`); the directory name is added where that still leaves two runs alike."""
    diff = [name for name in differing(columns) if name not in ("model", "model sha256", "bench")]
    shorts = {name: short for name, short, _ in _SETTINGS}
    labels = []
    for col in columns:
        parts = [model_short_name(col.get("model"))]
        parts += [f"{shorts[name]}={_value(col.get(name))}" for name in diff if shorts.get(name)]
        labels.append(" ".join(parts))
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({paths[i].name})"
    return labels


# ------------------------------------------------------------------------------------------ flipped problems

SOLVED_AT = 0.5  # a problem counts as right in a run when at least half its samples are correct


def flipped_problems(a: dict[str, float], b: dict[str, float]) -> list[dict[str, Any]]:
    """Problems right in one run and wrong in the other (right = pass@1 >= SOLVED_AT), from per-problem pass@1
    of baseline `a` and candidate `b`, largest pass@1 difference first, then by problem id."""
    rows = []
    for pid in sorted(set(a) & set(b)):
        if (a[pid] >= SOLVED_AT) != (b[pid] >= SOLVED_AT):
            rows.append({"problem_id": pid, "baseline": a[pid], "candidate": b[pid], "diff": b[pid] - a[pid],
                         "direction": "gained" if b[pid] > a[pid] else "lost"})
    return sorted(rows, key=lambda r: (-abs(r["diff"]), r["problem_id"]))
