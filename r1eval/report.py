"""`r1eval report RUN_DIR... --out DIR`: report.md, report.html, report.json, PNG plots and explorer.html.

Every number in the results table is read from the run's summary.json (the same values `r1eval run`
printed); per-problem pass@1 from summary.json's `per_problem` feeds the paired tests
(`r1eval.metrics.paired_test`: bootstrap CI over shared problems + sign-flip permutation p-value, made
two-sided here). The report opens with a headline figure, pass@1 and its 95% CI per model per bench; a
summary.json with `pass@1_at_budget` adds a token-budget curve per bench, a run directory with
`audit_summary.json` (`r1eval audit`) a disagreements column. Runs labelled base / distilled / rl
(`--label DIR=NAME` or `label` in config.json) get the R1-style ablation table. A run directory holding
`steps.jsonl` or `train_log.jsonl` (one dict per training step) gets training curves. explorer.html
(r1eval/explorer.py) shows every sample, problem by problem. samples.jsonl rows are read leniently (a row
may lack fields such as `seed`).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.records import utf8_safe

ABLATION_ORDER = ("teacher", "base", "distilled", "rl")
ALPHA = 0.05


@dataclass
class Run:
    """One run directory as the report sees it."""

    path: Path
    label: str
    config: dict[str, Any]
    summary: dict[str, Any]
    lengths: list[int]
    train_log: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)
    audit: dict[str, Any] | None = None  # audit_summary.json of `r1eval audit`, when present

    @property
    def bench(self) -> str:
        return str(self.summary["bench"])

    @property
    def n(self) -> int:
        return int(self.summary["n_samples"])

    @property
    def cons(self) -> float | None:
        return self.summary.get(f"cons@{self.n}")

    @property
    def budget_curve(self) -> dict[int, float]:
        """pass@1 at each token budget (summary.json `pass@1_at_budget`), budgets ascending; {} when absent."""
        raw = self.summary.get("pass@1_at_budget") or {}
        return {int(k): float(v) for k, v in sorted(raw.items(), key=lambda kv: int(kv[0])) if v is not None}

    @property
    def disagreements(self) -> int | None:
        return None if self.audit is None else self.audit.get("num_disagreements")

    def per_problem(self) -> dict[str, float]:
        return {str(r["problem_id"]): float(r["pass@1"]) for r in self.summary.get("per_problem", [])}


def parse_labels(items: list[str]) -> dict[str, str]:
    """`--label DIR=NAME` options as {resolved dir: name}."""
    labels = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--label {item!r}: expected DIR=NAME, e.g. --label runs/sft=distilled")
        path, name = item.rsplit("=", 1)
        labels[str(Path(path).resolve())] = name.strip()
    return labels


TRAIN_LOGS = ("steps.jsonl", "train_log.jsonl")  # grpo's and distill train's per-step log; older SFT runs


def load_run(path: Path, labels: dict[str, str]) -> Run:
    """A run directory's config, summary, samples (read leniently), training log and audit summary."""
    from r1eval.records import read_jsonl
    from r1eval.rundir import RunDir, read_sample_rows

    rd = RunDir(path)
    config, summary = rd.config(), rd.summary()
    label = labels.get(str(path.resolve())) or config.get("label") or path.name
    samples = read_sample_rows(rd.samples_path) if rd.samples_path.is_file() else []
    lengths = [int(s["completion_tokens"]) for s in samples if isinstance(s.get("completion_tokens"), int | float)]
    log = next((read_jsonl(path / name) for name in TRAIN_LOGS if (path / name).is_file()), [])
    by_step = {row.get("step", i): row for i, row in enumerate(log)}  # a resumed run may log a step twice:
    log = [by_step[k] for k in sorted(by_step)]  # the last row counts
    audit = None
    if (path / "audit_summary.json").is_file():
        try:
            audit = json.loads((path / "audit_summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UsageError(f"{path / 'audit_summary.json'} is not valid JSON; rerun `r1eval audit` or remove it") from None
    return Run(path, str(label), config, summary, lengths, log, samples, audit)


def fmt(x: Any) -> str:
    """A metric as the table prints it (4 decimals; '-' when absent)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{float(x):.4f}"


def results_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per run: bench, label, model, pass@1 and CI, cons@n, largest pass@k, lengths. Values are the
    summary's own numbers."""
    rows = []
    for r in runs:
        s = r.summary
        kmax = max(s["pass@k"], key=int) if s.get("pass@k") else None
        rows.append({"bench": r.bench, "label": r.label, "model": s["model"], "problems": s["num_problems"],
                     "n": r.n, "pass@1": s["pass@1"], "pass@1_ci95": s["pass@1_ci95"], "cons": r.cons,
                     "kmax": kmax, "pass@kmax": s["pass@k"][kmax] if kmax else None,
                     "mean_completion_tokens": s["mean_completion_tokens"],
                     "truncation_rate": s["truncation_rate"], "disagreements": r.disagreements,
                     "pass@1_at_budget": {str(k): v for k, v in r.budget_curve.items()} or None,
                     "run": str(r.path)})
    return rows


def two_sided(a: Run, b: Run) -> dict[str, Any] | None:
    """Paired test of b against a on their shared problems (two-sided p from two one-sided tests)."""
    from r1eval.metrics import paired_test

    pa, pb = a.per_problem(), b.per_problem()
    shared = sorted(set(pa) & set(pb))
    if not shared:
        return None
    x, y = [pa[p] for p in shared], [pb[p] for p in shared]
    better, worse = paired_test(x, y, alpha=ALPHA), paired_test(y, x, alpha=ALPHA)
    p = min(1.0, 2 * min(better.p_value, worse.p_value))
    return {"baseline": a.label, "candidate": b.label, "bench": a.bench, "shared_problems": len(shared),
            "baseline_pass@1": better.baseline, "candidate_pass@1": better.candidate, "diff": better.diff,
            "ci95": list(better.ci), "p_value": p, "significant": p < ALPHA}


def comparisons(runs: list[Run]) -> list[dict[str, Any]]:
    """Every pair of runs on the same bench, ablation order first (teacher, base, distilled, rl)."""
    order = {name: i for i, name in enumerate(ABLATION_ORDER)}
    out = []
    for a, b in combinations(sorted(runs, key=lambda r: (order.get(r.label, 99), r.label)), 2):
        if a.bench == b.bench and (c := two_sided(a, b)) is not None:
            out.append(c)
    return out


# ----------------------------------------------------------------------------------------------- plots


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log2_lines(series: dict[str, dict[int, float]], xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """One line per run of a [0, 1] metric against a power-of-two x (k, a token budget)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
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
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + len(benches) * (0.5 + 0.45 * len(labels))), 4.2), dpi=110)
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
    """Histogram of completion lengths (tokens), one outline per run."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    top = max((max(r.lengths) for r in runs if r.lengths), default=1)
    bins = list(range(0, top + max(1, top // 30) + 1, max(1, top // 30)))
    for r in runs:
        ax.hist(r.lengths, bins=bins, histtype="step", linewidth=1.6, label=f"{r.label} (mean "
                f"{r.summary['mean_completion_tokens']:.0f})")
    ax.set_xlabel("completion tokens")
    ax.set_ylabel("samples")
    ax.set_title(f"completion length on {bench}")
    ax.legend()
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


def plot_training(run: Run, path: Path) -> list[str]:
    """Training curves of one run: one panel per family (reward by component, KL, length, loss, ...)."""
    series = training_series(run.train_log)
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
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
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
    fig.suptitle(f"training: {run.label}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return wanted


# ---------------------------------------------------------------------------------------------- writing


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def ablation_section(runs: list[Run], comps: list[dict[str, Any]]) -> list[str]:
    """The R1-style ablation table (teacher, base, distilled, RL per bench) and what is significant."""
    labelled = [r for r in runs if r.label in ABLATION_ORDER]
    if not ({"base"} < {r.label for r in labelled} and {"distilled", "rl"} & {r.label for r in labelled}):
        return []
    lines = ["## Distillation vs RL ablation", "",
             "As in DeepSeek-R1 (Table 6): the same base student, distilled from teacher traces versus trained "
             "with RL. Differences are paired over shared problems (bootstrap 95% CI of the mean per-problem "
             f"pass@1 difference; two-sided sign-flip permutation p-value; significant at p < {ALPHA}).", ""]
    benches = sorted({r.bench for r in labelled})
    by = {(r.bench, r.label): r for r in labelled}
    header = ["model", *[f"{b} pass@1" for b in benches], *[f"{b} cons@n" for b in benches]]
    rows = []
    for label in ABLATION_ORDER:
        if any((b, label) in by for b in benches):
            rows.append([label, *[fmt(by[(b, label)].summary["pass@1"]) if (b, label) in by else "-" for b in benches],
                         *[fmt(by[(b, label)].cons) if (b, label) in by else "-" for b in benches]])
    lines += _table(header, rows) + [""]
    for c in comps:
        if c["baseline"] in ABLATION_ORDER and c["candidate"] in ABLATION_ORDER:
            verdict = "**significant**" if c["significant"] else "not significant"
            direction = "better" if c["diff"] > 0 else "worse" if c["diff"] < 0 else "equal"
            lines.append(f"- {c['bench']}: {c['candidate']} vs {c['baseline']}: {c['diff']:+.4f} pass@1 "
                         f"({direction}; 95% CI {c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}, p = {c['p_value']:.4f}, "
                         f"{c['shared_problems']} problems) - {verdict}")
    return [*lines, ""]


def write_report(paths: list[Path], out: Path, *, labels: dict[str, str] | None = None,
                 title: str = "r1eval report", preface: str = "") -> Path:
    """Write report.md, report.html, report.json and PNG plots for the run directories into `out`."""
    if not paths:
        raise UsageError("give at least one run directory")
    runs = [load_run(Path(p), labels or {}) for p in paths]
    seen: dict[tuple[str, str], Path] = {}
    for r in runs:
        key = (r.bench, r.label)
        if key in seen:
            raise UsageError(f"runs {seen[key]} and {r.path} are both labelled {r.label!r} on {r.bench}; "
                             "give them distinct --label DIR=NAME")
        seen[key] = r.path
    out.mkdir(parents=True, exist_ok=True)
    rows = results_rows(runs)
    comps = comparisons(runs)
    plot_headline(runs, out / "headline.png")
    plots: dict[str, list[str]] = {}
    benches = sorted({r.bench for r in runs})
    for bench in benches:
        group = [r for r in runs if r.bench == bench]
        plot_pass_at_k(group, bench, out / f"pass_at_k_{_safe(bench)}.png")
        plot_lengths(group, bench, out / f"lengths_{_safe(bench)}.png")
        plots[bench] = [f"pass_at_k_{_safe(bench)}.png", f"lengths_{_safe(bench)}.png"]
        if any(r.budget_curve for r in group):
            plot_budget(group, bench, out / f"budget_{_safe(bench)}.png")
            plots[bench].append(f"budget_{_safe(bench)}.png")
    from r1eval.explorer import write_explorer

    write_explorer([(r.label, r.summary, r.samples) for r in runs], out)
    training_plots = []
    for r in runs:
        if r.train_log:
            name = f"training_{_safe(r.label)}_{_safe(r.bench)}.png"
            if plot_training(r, out / name):
                training_plots.append((r.label, name))

    md = [f"# {title}", ""]
    if preface:
        md += [preface, ""]
    md += ["![pass@1 with 95% CI per model and bench](headline.png)", "",
           "Every sample, problem by problem: [the sample explorer](explorer.html).", ""]
    audited = any(r["disagreements"] is not None for r in rows)
    md += ["## Results", "", "Numbers are the runs' summary.json values: pass@1 = mean correctness over the n "
           "samples per problem (95% bootstrap CI over problems), cons@n = majority vote, pass@k unbiased."
           + (" Audit disagreements: samples where `r1eval audit`'s graders disagree (audit_summary.json)."
              if audited else ""), ""]
    md += _table(["bench", "model", "problems x n", "pass@1", "pass@1 95% CI", "cons@n", "pass@k (largest k)",
                  "mean tokens", "truncated", *(["audit disagreements"] if audited else [])],
                 [[r["bench"], f"{r['label']} ({r['model']})" if r["label"] != r["model"] else r["label"],
                   f"{r['problems']} x {r['n']}", fmt(r["pass@1"]),
                   f"{fmt(r['pass@1_ci95'][0])} - {fmt(r['pass@1_ci95'][1])}", fmt(r["cons"]),
                   f"{fmt(r['pass@kmax'])} (k={r['kmax']})" if r["kmax"] else "-",
                   f"{r['mean_completion_tokens']:.1f}", f"{r['truncation_rate']:.3f}",
                   *([str(r["disagreements"]) if r["disagreements"] is not None else "-"] if audited else [])]
                  for r in rows])
    md.append("")
    from r1eval.published import report_lines

    md += report_lines([(r.label, r.summary) for r in runs])
    md += ablation_section(runs, comps)
    if comps:
        md += ["## Paired significance", "",
               "Candidate minus baseline pass@1 over the problems both runs scored: bootstrap 95% CI and two-sided "
               f"sign-flip permutation p-value (`r1eval.metrics.paired_test`); significant at p < {ALPHA}.", ""]
        md += _table(["bench", "candidate vs baseline", "problems", "difference", "95% CI", "p", "significant"],
                     [[c["bench"], f"{c['candidate']} vs {c['baseline']}", str(c["shared_problems"]),
                       f"{c['diff']:+.4f}", f"{c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}", f"{c['p_value']:.4f}",
                       "yes" if c["significant"] else "no"] for c in comps])
        md.append("")
    md += ["## Plots", ""]
    for bench in benches:
        md += [f"### {bench}", "", *(f"![{p}]({p})" for p in plots[bench]), ""]
    if training_plots:
        md += ["## Training curves", ""]
        md += [f"![training {label}]({name})" for label, name in training_plots] + [""]
    md += ["## Runs", "", *(f"- {r.label}: `{r.path}` (model {r.summary['model']}, "
                            f"commit {r.config.get('git_commit') or '-'})" for r in runs), ""]
    text = utf8_safe("\n".join(md))  # a model name or label may carry a lone surrogate
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(render_html(text, title), encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"results": rows, "comparisons": comps, "headline": "headline.png",
                                                 "plots": plots, "training_plots": dict(training_plots),
                                                 "explorer": "explorer.html"}, indent=2) + "\n", encoding="utf-8")
    return out


def render_html(markdown_text: str, title: str) -> str:
    """report.md as a standalone HTML page (markdown-it, tables enabled)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")
