"""`r1eval report DIR... --out DIR`: report.md, report.html, report.json, PNG plots and explorer.html.

Inputs are evaluation run directories and training directories (`r1eval grpo` / `r1eval distill train`).
The report opens with what differs between the runs (r1eval.compare: every setting side by side, runs
whose data, grader or token cap differ flagged), then a headline figure and the results table, whose
numbers are the runs' summary.json values, with each run's cost. Per-problem pass@1 (summary.json
`per_problem`) feeds the paired tests (`r1eval.metrics.paired_test`, made two-sided) and the table of
problems that flipped between two runs. Runs labelled base / distilled / rl (or `r1eval loop`'s arm names;
`--label DIR=NAME` or `label` in config.json) get the R1-style ablation table with each arm's training
compute, found through the evaluated checkpoint's training directory (r1eval.lineage). Training curves come
from a run's own steps.jsonl / train_log.jsonl or its training directory's. explorer.html (r1eval/explorer.py)
shows every sample. samples.jsonl is streamed and read leniently (a row may lack fields such as `seed`).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import quote

from r1eval.compare import (
    comparability_warnings,
    default_labels,
    flipped_problems,
    settings_of,
    settings_table,
)
from r1eval.errors import ConfigError, UsageError
from r1eval.lineage import Training, load_training, training_compute, training_kind, training_source
from r1eval.records import utf8_safe
from r1eval.report_plots import ABLATION_ORDER  # teacher, base, then the arms of `r1eval loop`'s recipes

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
    audit: dict[str, Any] | None = None  # audit_summary.json of `r1eval audit`, when present
    training: Training | None = None  # the training run of the evaluated checkpoint (config's trained_from)
    key: str = ""  # the run's id in the explorer (r0, r1, ...)

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
            raise ConfigError("label", f"{item!r}: expected DIR=NAME, e.g. runs/sft=distilled")
        path, name = item.rsplit("=", 1)
        labels[str(Path(path).resolve())] = name.strip()
    return labels


TRAIN_LOGS = ("steps.jsonl", "train_log.jsonl")  # grpo's and distill train's per-step log; older SFT runs


def _linked_training(config: dict[str, Any]) -> Training | None:
    """The training directory the evaluated model came from: config.json's `trained_from` (written by
    `r1eval run`), or for older runs the model path's place in a training directory, when it still exists."""
    source = config.get("trained_from") or training_source(config.get("model_path"))
    if not source or not Path(source["run_dir"]).is_dir():
        return None
    training = load_training(Path(source["run_dir"]))
    if training is not None:
        training.evaluated_step = source.get("step")
    return training


def load_run(path: Path, labels: dict[str, str]) -> Run:
    """A run directory's config, summary, samples (read leniently), training log and audit summary. The
    training log is the run's own steps.jsonl (copied there) or that of the training run it evaluates."""
    from r1eval.explorer import iter_sample_rows
    from r1eval.records import read_jsonl
    from r1eval.rundir import RunDir

    rd = RunDir(path)
    config, summary = rd.config(), rd.summary()
    label = labels.get(str(path.resolve())) or config.get("label") or ""
    lengths = [int(s["completion_tokens"]) for s in iter_sample_rows(rd.samples_path)  # streamed: bounded memory
               if isinstance(s.get("completion_tokens"), int | float)]
    training = _linked_training(config)
    log = next((read_jsonl(path / name) for name in TRAIN_LOGS if (path / name).is_file()), [])
    if not log and training is not None:
        log = training.steps
    by_step = {row.get("step", i): row for i, row in enumerate(log)}  # a resumed run may log a step twice:
    log = [by_step[k] for k in sorted(by_step)]  # the last row counts
    audit = None
    if (path / "audit_summary.json").is_file():
        try:
            audit = json.loads((path / "audit_summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UsageError(f"{path / 'audit_summary.json'} is not valid JSON; rerun `r1eval audit` or remove it") from None
    return Run(path, str(label), config, summary, lengths, log, audit, training)


def load_inputs(paths: list[Path], labels: dict[str, str]) -> tuple[list[Run], list[tuple[str, Training]]]:
    """Evaluation runs and training directories (config.json of kind grpo/sft) given to `r1eval report`;
    evaluation runs without a label get the short default (model + the settings that differ)."""
    runs, trainings = [], []
    for path in paths:
        if training_kind(path) is not None:
            training = load_training(path)
            assert training is not None
            trainings.append((labels.get(str(path.resolve())) or path.name, training))
        else:
            runs.append(load_run(path, labels))
    columns = [settings_of(r.config, r.summary) for r in runs]
    for r, default in zip(runs, default_labels(columns, [r.path for r in runs]), strict=True):
        r.label = utf8_safe(r.label or default)  # a model name may carry a lone surrogate
    for k, r in enumerate(runs):
        r.key = f"r{k}"
    return runs, trainings


def fmt(x: Any) -> str:
    """A metric as the table prints it (4 decimals; '-' when absent)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{float(x):.4f}"


def results_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per run: bench, label, model, pass@1 and CI, cons@n, largest pass@k, lengths, and what the run
    cost (tokens generated, generation seconds when `r1eval run` recorded them). Values are the summary's."""
    rows = []
    for r in runs:
        s = r.summary
        kmax = max(s["pass@k"], key=int) if s.get("pass@k") else None
        rows.append({"bench": r.bench, "label": r.label, "model": s["model"], "problems": s["num_problems"],
                     "n": r.n, "pass@1": s["pass@1"], "pass@1_ci95": s["pass@1_ci95"], "cons": r.cons,
                     "grader": s.get("grader"),
                     "kmax": kmax, "pass@kmax": s["pass@k"][kmax] if kmax else None,
                     "mean_completion_tokens": s["mean_completion_tokens"],
                     "truncation_rate": s["truncation_rate"], "disagreements": r.disagreements,
                     "tokens_generated": sum(r.lengths) if r.lengths else None,
                     "generation_seconds": r.config.get("generation_seconds"),
                     "pass@1_at_budget": {str(k): v for k, v in r.budget_curve.items()} or None,
                     "run": str(r.path), "explorer_key": r.key})
    return rows


def two_sided(a: Run, b: Run, allow_partial: bool = False) -> dict[str, Any] | None:
    """Paired test of b against a on their shared problems (two-sided p from two one-sided tests), with the
    problems that flipped between them and the settings that make them not comparable at face value. A
    partial run is refused (UsageError) unless `allow_partial`: then only problems complete in both count."""
    from r1eval.completeness import comparable_problems
    from r1eval.metrics import paired_test

    subset, partial = comparable_problems(a.path, b.path, allow_partial)
    pa, pb = ({k: v for k, v in r.per_problem().items() if subset is None or k in subset} for r in (a, b))
    shared = sorted(set(pa) & set(pb))
    if not shared:
        return None
    x, y = [pa[p] for p in shared], [pb[p] for p in shared]
    better, worse = paired_test(x, y, alpha=ALPHA), paired_test(y, x, alpha=ALPHA)
    p = min(1.0, 2 * min(better.p_value, worse.p_value))
    return {"baseline": a.label, "candidate": b.label, "bench": a.bench, "shared_problems": len(shared),
            "baseline_pass@1": better.baseline, "candidate_pass@1": better.candidate, "diff": better.diff,
            "ci95": list(better.ci), "p_value": p, "significant": p < ALPHA,
            "explorer_keys": [a.key, b.key], "flipped": flipped_problems(pa, pb), "partial": partial,
            "warnings": comparability_warnings((a.label, a.config, a.summary), (b.label, b.config, b.summary))}


def comparisons(runs: list[Run], allow_partial: bool = False) -> list[dict[str, Any]]:
    """Every pair of runs on the same bench, ablation order first (teacher, base, distilled, rl)."""
    order = {name: i for i, name in enumerate(ABLATION_ORDER)}
    out = []
    for a, b in combinations(sorted(runs, key=lambda r: (order.get(r.label, 99), r.label)), 2):
        if a.bench == b.bench and (c := two_sided(a, b, allow_partial)) is not None:
            out.append(c)
    return out


# ---------------------------------------------------------------------------------------------- writing


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _cell(text: Any) -> str:
    """A value as a Markdown table cell (pipes escaped)."""
    return str(text).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(_cell(c) for c in r) + " |" for r in rows)]


def _tokens(x: Any) -> str:
    return "-" if x is None else f"{int(x):,}"


def _minutes(seconds: Any) -> str:
    return "-" if seconds is None else f"{float(seconds) / 60:.1f} min"


def settings_section(runs: list[Run]) -> tuple[list[str], list[str]]:
    """(Markdown, warnings): the settings of every run side by side, differing rows in bold, and one warning
    per pair of runs on one bench whose data, grader or token cap differ."""
    if not runs:
        return [], []
    header, rows = settings_table([r.label for r in runs], [settings_of(r.config, r.summary) for r in runs])
    warnings = [w for a, b in combinations(runs, 2) if a.bench == b.bench
                for w in comparability_warnings((a.label, a.config, a.summary), (b.label, b.config, b.summary))]
    lines = ["## What differs between the runs", "",
             "Every setting each run was made with (config.json); rows in bold differ. A difference in bench "
             "data, grader version or token cap makes pass@1 not comparable at face value.", ""]
    lines += _table(header, rows) + [""]
    lines += [f"- **{w.removeprefix('warning: ')}**" for w in warnings] + ([""] if warnings else [])
    return lines, warnings


FLIPS_SHOWN = 25  # flipped problems listed per comparison in report.md (report.json has all)


def flips_section(comps: list[dict[str, Any]]) -> list[str]:
    """Per comparison, the problems right in one run and wrong in the other, linked to the explorer's
    side-by-side view of the problem in both runs."""
    if not comps:
        return []
    lines = ["## Problems that flipped", "",
             "A problem is right in a run when at least half its samples are correct; listed are the problems right "
             "in one run and wrong in the other, largest pass@1 difference first. Each links to both runs' samples "
             "side by side in the explorer.", ""]
    for c in comps:
        flips = c["flipped"]
        gained = sum(f["direction"] == "gained" for f in flips)
        lines += [f"### {c['bench']}: {c['candidate']} vs {c['baseline']}", "",
                  f"{len(flips)} of {c['shared_problems']} problems flipped: {gained} gained, {len(flips) - gained} "
                  "lost" + (f" (first {FLIPS_SHOWN} shown; all in report.json)" if len(flips) > FLIPS_SHOWN else "")
                  + ".", ""]
        if flips:
            keys = ",".join(c["explorer_keys"])
            lines += _table(["problem", f"{c['baseline']} pass@1", f"{c['candidate']} pass@1", "difference", ""],
                            [[f"[{f['problem_id']}](explorer.html#problem={quote(f['problem_id'])}&runs={keys})",
                              fmt(f["baseline"]), fmt(f["candidate"]), f"{f['diff']:+.4f}", f["direction"]]
                             for f in flips[:FLIPS_SHOWN]])
            lines.append("")
    return lines


def training_rows(runs: list[Run], trainings: list[tuple[str, Training]]) -> list[dict[str, Any]]:
    """Compute per training run: the ones evaluated runs came from, then the training directories given."""
    rows, seen = [], set()
    for label, t in [*((r.label, r.training) for r in runs if r.training is not None), *trainings]:
        if t is not None and (label, str(t.path)) not in seen:
            seen.add((label, str(t.path)))
            rows.append({"label": label, **training_compute(t)})
    return rows


def training_section(rows: list[dict[str, Any]]) -> list[str]:
    """The compute table: optimizer steps, tokens generated, tokens trained on, wall time per training run."""
    if not rows:
        return []
    lines = ["## Training compute", "",
             "Read from each training directory (`r1eval grpo` / `r1eval distill train`: steps.jsonl, result.json, "
             "config.json). GRPO generates its own training tokens (rollouts); distillation trains on teacher "
             "traces (counted from the filter report next to its data, before filtering).", ""]
    lines += _table(["arm", "kind", "optimizer steps", "evaluated step", "tokens generated", "tokens trained on",
                     "training wall time", "training run"],
                    [[r["label"], r["kind"], str(r["optimizer_steps"] if r["optimizer_steps"] is not None else "-"),
                      str(r["evaluated_step"] if r["evaluated_step"] is not None else "-"),
                      _tokens(r["tokens_generated"]), _tokens(r["tokens_trained_on"]), _minutes(r["wall_seconds"]),
                      f"`{r['run_dir']}`"] for r in rows])
    notes = sorted({f"{k.removesuffix('_note').replace('_', ' ')} ({r['kind']}): {r[k]}" for r in rows
                    for k in ("tokens_generated_note", "tokens_trained_on_note", "wall_note") if r.get(k)})
    return [*lines, "", *(f"- {n}" for n in notes), ""]


def ablation_section(runs: list[Run], comps: list[dict[str, Any]], compute: list[dict[str, Any]]) -> list[str]:
    """The R1-style ablation table (teacher, base, distilled, RL per bench, with each arm's training compute)
    and what is significant."""
    # the arms: runs with an ablation label, or evaluating a checkpoint of a training run (any arm name)
    labelled = [r for r in runs if r.label in ABLATION_ORDER or r.training is not None]
    arms = [label for label in dict.fromkeys(r.label for r in labelled) if label not in ("teacher", "base")]
    if "base" not in {r.label for r in labelled} or not arms:
        return []
    order = [label for label in ABLATION_ORDER if label in {"teacher", "base"} | set(arms)]
    order += [label for label in arms if label not in order]
    lines = ["## Distillation vs RL ablation", "",
             "As in DeepSeek-R1 (Table 6): the same base student, distilled from teacher traces versus trained "
             "with RL. Differences are paired over shared problems (bootstrap 95% CI of the mean per-problem "
             f"pass@1 difference; two-sided sign-flip permutation p-value; significant at p < {ALPHA}). Compute "
             "columns come from the arm's training directory (see Training compute).", ""]
    benches = sorted({r.bench for r in labelled})
    by = {(r.bench, r.label): r for r in labelled}
    cost = {row["label"]: row for row in compute}
    header = ["model", *[f"{b} pass@1" for b in benches], *[f"{b} cons@n" for b in benches], "optimizer steps",
              "tokens generated", "tokens trained on", "training wall time"]
    rows = []
    for label in order:
        if any((b, label) in by for b in benches):
            c = cost.get(label, {})
            rows.append([label, *[fmt(by[(b, label)].summary["pass@1"]) if (b, label) in by else "-" for b in benches],
                         *[fmt(by[(b, label)].cons) if (b, label) in by else "-" for b in benches],
                         str(c.get("optimizer_steps") if c.get("optimizer_steps") is not None else "-"),
                         _tokens(c.get("tokens_generated")), _tokens(c.get("tokens_trained_on")),
                         _minutes(c.get("wall_seconds"))])
    lines += _table(header, rows) + [""]
    for c in comps:
        if c["baseline"] in order and c["candidate"] in order:
            verdict = "**significant**" if c["significant"] else "not significant"
            direction = "better" if c["diff"] > 0 else "worse" if c["diff"] < 0 else "equal"
            lines.append(f"- {c['bench']}: {c['candidate']} vs {c['baseline']}: {c['diff']:+.4f} pass@1 "
                         f"({direction}; 95% CI {c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}, p = {c['p_value']:.4f}, "
                         f"{c['shared_problems']} problems) - {verdict}")
    return [*lines, ""]


def results_section(rows: list[dict[str, Any]]) -> list[str]:
    """The results table: the runs' own summary numbers and what each run cost."""
    audited = any(r["disagreements"] is not None for r in rows)
    md = ["## Results", "", "Numbers are the runs' summary.json values: pass@1 = mean correctness over the n "
          "samples per problem (95% bootstrap CI over problems), cons@n = majority vote, pass@k unbiased. Cost: "
          "completion tokens generated and generation wall time (recorded by `r1eval run`, model loading "
          "excluded; '-' for runs made before it recorded them)."
          + (" Audit disagreements: samples where `r1eval audit`'s graders disagree (audit_summary.json)."
             if audited else ""), ""]
    md += _table(["bench", "model", "problems x n", "pass@1", "pass@1 95% CI", "cons@n", "pass@k (largest k)",
                  "mean tokens", "truncated", "tokens generated", "generation time",
                  *(["audit disagreements"] if audited else [])],
                 [[r["bench"], f"{r['label']} ({r['model']})" if r["label"] != r["model"] else r["label"],
                   f"{r['problems']} x {r['n']}", fmt(r["pass@1"]),
                   f"{fmt(r['pass@1_ci95'][0])} - {fmt(r['pass@1_ci95'][1])}", fmt(r["cons"]),
                   f"{fmt(r['pass@kmax'])} (k={r['kmax']})" if r["kmax"] else "-",
                   f"{r['mean_completion_tokens']:.1f}", f"{r['truncation_rate']:.3f}", _tokens(r["tokens_generated"]),
                   _minutes(r["generation_seconds"]),
                   *([str(r["disagreements"]) if r["disagreements"] is not None else "-"] if audited else [])]
                  for r in rows])
    from r1eval.grading.provenance import error_rates_line

    graders = list(dict.fromkeys(line for r in rows if (line := error_rates_line(r.get("grader")))))
    return [*md, "", *[f"- {line} (the grader's measured error rates, `docs/grading.md`)" for line in graders],
            *([""] if graders else [])]


def _trained_note(r: Run) -> str:
    """Where the evaluated checkpoint was trained, for the Runs list (said when the directory is gone)."""
    if r.training is not None:
        return f"; trained in `{r.training.path}`, step {r.training.evaluated_step}"
    source = r.config.get("trained_from")
    if source:
        return f"; trained in `{source.get('run_dir')}`, step {source.get('step')} (directory not found: no compute)"
    return ""


def write_report(paths: list[Path], out: Path, *, labels: dict[str, str] | None = None,
                 title: str = "r1eval report", preface: str = "", explorer_copy: bool | None = None,
                 allow_partial: bool = False) -> Path:
    """Write report.md, report.html, report.json, PNG plots and the explorer for the run directories (and
    training directories) into `out`."""
    from r1eval import report_plots as plots_of
    from r1eval.explorer import write_explorer

    if not paths:
        raise UsageError("give at least one run directory")
    runs, trainings = load_inputs([Path(p) for p in paths], labels or {})
    seen: dict[tuple[str, str], Path] = {}
    for r in runs:
        key = (r.bench, r.label)
        if key in seen:
            raise UsageError(f"runs {seen[key]} and {r.path} are both labelled {r.label!r} on {r.bench}; "
                             "give them distinct `label` DIR=NAME")
        seen[key] = r.path
    out.mkdir(parents=True, exist_ok=True)
    rows = results_rows(runs)
    comps = comparisons(runs, allow_partial)
    compute = training_rows(runs, trainings)
    plots: dict[str, list[str]] = {}
    benches = sorted({r.bench for r in runs})
    if runs:
        plots_of.plot_headline(runs, out / "headline.png")
    for bench in benches:
        group = [r for r in runs if r.bench == bench]
        plots_of.plot_pass_at_k(group, bench, out / f"pass_at_k_{_safe(bench)}.png")
        plots_of.plot_lengths(group, bench, out / f"lengths_{_safe(bench)}.png")
        plots[bench] = [f"pass_at_k_{_safe(bench)}.png", f"lengths_{_safe(bench)}.png"]
        if any(r.budget_curve for r in group):
            plots_of.plot_budget(group, bench, out / f"budget_{_safe(bench)}.png")
            plots[bench].append(f"budget_{_safe(bench)}.png")
    if runs:
        write_explorer([(r.key, r.label, r.summary, r.path) for r in runs], out, copy=explorer_copy)
    training_plots = []
    curves = [(r.label, r.bench, r.train_log) for r in runs if r.train_log]
    curves += [(label, "training", t.steps) for label, t in trainings if t.steps]
    for label, where, log in curves:
        name = f"training_{_safe(label)}_{_safe(where)}.png"
        if plots_of.plot_training(label, log, out / name):
            training_plots.append((label, name))

    md = [f"# {title}", ""]
    if preface:
        md += [preface, ""]
    settings_md, warnings = settings_section(runs)
    md += settings_md
    if runs:
        md += ["![pass@1 with 95% CI per model and bench](headline.png)", "",
               "Every sample, problem by problem: [the sample explorer](explorer.html).", ""]
        md += results_section(rows)
        from r1eval.benches.humaneval_mul import per_language_lines

        md += per_language_lines([(r.label, r.bench, r.summary) for r in runs])
        from r1eval.published import report_lines

        md += report_lines([(r.label, r.summary) for r in runs])
    md += ablation_section(runs, comps, compute)
    md += training_section(compute)
    if comps:
        md += ["## Paired significance", "",
               "Candidate minus baseline pass@1 over the problems both runs scored: bootstrap 95% CI and two-sided "
               f"sign-flip permutation p-value (`r1eval.metrics.paired_test`); significant at p < {ALPHA}.", ""]
        md += _table(["bench", "candidate vs baseline", "problems", "difference", "95% CI", "p", "significant",
                      "flipped"],
                     [[c["bench"], f"{c['candidate']} vs {c['baseline']}", str(c["shared_problems"]),
                       f"{c['diff']:+.4f}", f"{c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}", f"{c['p_value']:.4f}",
                       ("yes" if c["significant"] else "no") + (" (not comparable: see above)" if c["warnings"] else ""),
                       str(len(c["flipped"]))] for c in comps])
        md += ["", *(f"- partial: {c['partial']}" for c in comps if c.get("partial"))]
        md.append("")
    md += flips_section(comps)
    if plots:
        md += ["## Plots", ""]
        for bench in benches:
            md += [f"### {bench}", "", *(f"![{p}]({p})" for p in plots[bench]), ""]
    if training_plots:
        md += ["## Training curves", ""]
        md += [f"![training {label}]({name})" for label, name in training_plots] + [""]
    md += ["## Runs", "", *(f"- {r.label}: `{r.path}` (model {r.summary['model']}, "
                            f"commit {r.config.get('git_commit') or '-'}"
                            + _trained_note(r) + ")" for r in runs),
           *(f"- {label}: training run `{t.path}` ({t.kind}, commit {t.config.get('git_commit') or '-'})"
             for label, t in trainings), ""]
    text = utf8_safe("\n".join(md))  # a model name or label may carry a lone surrogate
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(render_html(text, title), encoding="utf-8")
    (out / "report.json").write_text(json.dumps({
        "settings": {r.label: settings_of(r.config, r.summary) for r in runs}, "warnings": warnings,
        "results": rows, "comparisons": comps, "training": compute, "headline": "headline.png" if runs else None,
        "plots": plots, "training_plots": dict(training_plots), "explorer": "explorer.html" if runs else None},
        indent=2) + "\n", encoding="utf-8")
    return out


def render_html(markdown_text: str, title: str) -> str:
    """report.md as a standalone HTML page (markdown-it, tables enabled)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    style = ("body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{width:100%;height:auto}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")
