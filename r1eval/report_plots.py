"""The report's figures (matplotlib, Agg): headline pass@1 per model and bench, pass@k, token budget, completion
lengths (one panel per run, so no histogram hides another) and training curves. Figures are wide: the page
shows them at full width."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

Run = Any  # r1eval.report.Run (not imported: report imports this module)

# the ablation's rows: teacher, base student, then its arms (mini_r1's names and `r1eval loop`'s)
ABLATION_ORDER = ("teacher", "base", "distilled", "distill", "rl", "rl-zero", "distill+rl", "rl-no-language")
WIDE = 10.0  # inches: a figure fills the report's width


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log2_lines(series: dict[str, dict[int, float]], xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """One line per run of a [0, 1] metric against a power-of-two x (k, a token budget)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDE, 4), dpi=100)
    for label, points in series.items():
        ax.plot(list(points), list(points.values()), marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pass_at_k(runs: list[Run], bench: str, path: Path) -> None:
    """pass@k against k (log2 axis), one line per run."""
    series = {r.label: {int(k): v for k, v in sorted(r.summary["pass@k"].items(), key=lambda kv: int(kv[0]))}
              for r in runs}
    _log2_lines(series, "k (samples)", "pass@k", f"pass@k on {bench}", path)


def plot_budget(runs: list[Run], bench: str, path: Path) -> None:
    """pass@1 if generation had stopped at each token budget (summary.json `pass@1_at_budget`), per run."""
    _log2_lines({r.label: r.budget_curve for r in runs if r.budget_curve}, "token budget (max new tokens)", "pass@1",
                f"pass@1 against token budget on {bench}", path)


def label_order(runs: list[Run]) -> list[str]:
    """Run labels, the ablation's first (teacher, base, distilled, rl), then the others as given."""
    labels = list(dict.fromkeys(r.label for r in runs))
    order = {name: i for i, name in enumerate(ABLATION_ORDER)}
    return sorted(labels, key=lambda name: (order.get(name, len(order)), labels.index(name)))


def plot_headline(runs: list[Run], path: Path) -> None:
    """pass@1 with its 95% bootstrap CI per run, grouped by bench: the distill-vs-RL picture at a glance."""
    plt = _plt()
    benches = sorted({r.bench for r in runs})
    labels = label_order(runs)
    by = {(r.bench, r.label): r for r in runs}
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(WIDE, 4.2), dpi=100)
    for j, label in enumerate(labels):
        xs, ys, err = [], [], [[], []]
        for i, bench in enumerate(benches):
            r = by.get((bench, label))
            if r is None or r.summary.get("pass@1") is None:
                continue
            p1 = float(r.summary["pass@1"])
            lo, hi = (r.summary.get("pass@1_ci95") or [p1, p1])[:2]
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(p1)
            err[0].append(max(0.0, p1 - float(lo)))
            err[1].append(max(0.0, float(hi) - p1))
        bars = ax.bar(xs, ys, width * 0.9, yerr=err, capsize=3, label=label)
        ax.bar_label(bars, labels=[f"{y:.2f}" for y in ys], padding=2, fontsize=7)
    ax.set_xticks(range(len(benches)), benches)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("pass@1")
    ax.set_title("pass@1 per model and bench (95% CI over problems)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_lengths(runs: list[Run], bench: str, path: Path) -> None:
    """Completion lengths (tokens): one histogram panel per run over shared bins and x axis, stacked, so no
    run's histogram hides another's; the mean is marked in each."""
    plt = _plt()
    shown = [r for r in runs if r.lengths] or runs[:1]
    fig, axes = plt.subplots(len(shown), 1, figsize=(WIDE, 1.2 + 1.6 * len(shown)), dpi=100, sharex=True,
                             squeeze=False)
    top = max((max(r.lengths) for r in shown if r.lengths), default=1)
    step = max(1, top // 40)
    bins = list(range(0, top + step + 1, step))
    for ax, r, color in zip(axes[:, 0], shown, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 9, strict=False):
        mean = r.summary["mean_completion_tokens"]
        ax.hist(r.lengths, bins=bins, color=color, alpha=0.85)
        ax.axvline(mean, color="black", linestyle="--", linewidth=1)
        ax.set_ylabel("samples")
        ax.set_title(f"{r.label}: mean {mean:.0f} tokens, {r.summary['truncation_rate']:.1%} truncated", fontsize=9,
                     loc="left")
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xlabel("completion tokens")
    fig.suptitle(f"completion length on {bench}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def training_series(log: list[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Numeric per-step series of a train log (nested dicts flattened as a/b), keyed by name."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for i, row in enumerate(log):
        step = row.get("step", i)
        flat: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, dict):
                flat.update({f"{k}/{kk}": vv for kk, vv in v.items()})
            else:
                flat[k] = v
        for k, v in flat.items():
            if k in ("step", "epoch", "step_time") or k.startswith("time") or isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if k.startswith("train_") or k in ("total_flos",):  # end-of-training summary, not a step
                continue
            xs, ys = series.setdefault(k, ([], []))
            xs.append(float(step))
            ys.append(float(v))
    return series


def _panel(name: str) -> str:
    low = name.lower()
    for panel in ("reward", "kl", "length", "loss", "learning_rate", "accuracy", "entropy"):
        if panel in low:
            return panel
    return "other"


def plot_training(label: str, log: list[dict[str, Any]], path: Path) -> list[str]:
    """Training curves of one run: one panel per family (reward by component, KL, length, loss, ...)."""
    series = training_series(log)
    panels: dict[str, list[str]] = {}
    for name in series:
        if _panel(name) != "other" or len(panels) < 6:
            panels.setdefault(_panel(name), []).append(name)
    wanted = [p for p in ("reward", "kl", "length", "loss", "accuracy", "entropy", "learning_rate", "other")
              if p in panels]
    if not wanted:
        return []
    plt = _plt()
    cols = min(3, len(wanted))
    rows = math.ceil(len(wanted) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDE, 3.2 * rows), dpi=100, squeeze=False)
    for ax, panel in zip(axes.flat, wanted, strict=False):
        for name in panels[panel][:8]:
            xs, ys = series[name]
            ax.plot(xs, ys, marker="." if len(xs) < 40 else None, label=name)
        ax.set_title(panel)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(wanted):]:
        ax.axis("off")
    fig.suptitle(f"training: {label}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return wanted


