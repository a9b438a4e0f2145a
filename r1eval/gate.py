"""`r1eval gate`: a paired comparison of two run directories (the training-time gate callback that uses
it is `r1eval.training.make_gate_callback`).

Decision rule of `compare_runs` (per-problem values on the problems both runs share, paired):
  better        H0: candidate - baseline <= 0;        accept when the permutation p-value < alpha
  non-inferior  H0: candidate - baseline <= -margin;  accept when the permutation p-value < alpha
Both accept only on evidence: "non-inferior" accepts when the data show the candidate is less than `margin`
worse, not merely when they fail to show it is worse. The sign-flip test's smallest p-value over m problems
is 1/2^m, so below `min_problems(alpha)` problems no run can be accepted: `GateResult.unattainable` says so
(the CLI refuses such a gate, exit 2). The difference is printed with its (1 - alpha) paired-bootstrap CI
(r1eval.metrics.paired_test); runs that differ in bench data, grader version or token cap are flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1eval.compare import comparability_warnings
from r1eval.completeness import comparable_problems
from r1eval.errors import ConfigError, UsageError
from r1eval.metrics import PairedComparison, paired_test, pass_at_k
from r1eval.rundir import RunDir, read_samples

MODES = ("non-inferior", "better")
DEFAULT_MARGIN = 0.05  # non-inferiority margin in metric units (5 points of pass@1)


def min_problems(alpha: float) -> int:
    """The fewest shared problems at which the paired sign-flip test can give p < alpha (1/2^m < alpha)."""
    m = 1
    while 0.5**m >= alpha:
        m += 1
    return m


def _signed(x: float) -> str:
    """A difference with its sign, 4 decimals, never `-0.0000`."""
    return f"{round(x, 4) + 0.0:+.4f}"


def per_problem_values(run_dir: str | Path, metric: str, only: set[str] | None = None
                       ) -> tuple[dict[str, Any], dict[str, float]]:
    """(config.json, problem id -> value of `metric`) for one run directory (the problems in `only`, if given).

    `pass@1` and `pass@k` come from samples.jsonl (unbiased estimator per problem) or, without it, from
    summary.json's per_problem rows; `cons@n` (majority vote) from summary.json.
    """
    rd = RunDir(run_dir)
    if not rd.path.is_dir():
        raise UsageError(f"run directory not found: {run_dir}")
    config = rd.config()
    if metric.startswith("cons"):
        rows = rd.summary().get("per_problem", [])
        if rows and "cons" not in rows[0]:
            raise UsageError(f"{run_dir}: summary has no majority vote (cons) per problem for {metric}")
        return config, {str(r["problem_id"]): float(r["cons"]) for r in rows
                        if only is None or str(r["problem_id"]) in only}
    if not metric.startswith("pass@") or not metric[5:].isdigit() or int(metric[5:]) < 1:
        raise UsageError(f"unknown metric {metric!r}; use pass@1, pass@k or cons@n")
    k = int(metric[5:])
    counts: dict[str, tuple[int, int]] = {}
    samples = read_samples(rd.samples_path)
    if samples:
        seen: dict[tuple[str, int], bool] = {(s.problem_id, s.sample_index): s.correct for s in samples}
        for (pid, _), correct in seen.items():
            n, c = counts.get(pid, (0, 0))
            counts[pid] = (n + 1, c + int(correct))
    else:
        for r in rd.summary().get("per_problem", []):
            counts[str(r["problem_id"])] = (int(r["n"]), int(r["correct"]))
    if only is not None:
        counts = {pid: nc for pid, nc in counts.items() if pid in only}
    too_few = [pid for pid, (n, _) in counts.items() if n < k]
    if too_few:
        raise UsageError(f"{run_dir}: {metric} needs >= {k} samples per problem; {too_few[0]} has "
                         f"{counts[too_few[0]][0]}")
    return config, {pid: pass_at_k(n, c, k) for pid, (n, c) in counts.items()}


@dataclass
class GateResult:
    """The outcome of `r1eval gate`."""

    bench: str
    metric: str
    mode: str
    comparison: PairedComparison
    accept: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # settings that make the runs not comparable
    partial: str | None = None  # --allow-partial: which run was partial and what was compared

    def to_dict(self) -> dict[str, Any]:
        """The result as `r1eval gate --json` prints it."""
        return {"bench": self.bench, "metric": self.metric, "mode": self.mode, "accept": self.accept,
                **asdict(self.comparison), "notes": self.notes, "warnings": self.warnings,
                "partial": self.partial is not None, "partial_note": self.partial}

    @property
    def unattainable(self) -> str | None:
        """The one line saying why no result could pass at this alpha with this few problems, or None."""
        m, alpha = self.comparison.num_problems, self.comparison.alpha
        if 0.5**m < alpha:
            return None
        return (f"{m} shared problem(s) cannot reach `alpha` {alpha:g}: the paired sign-flip test's smallest p-value "
                f"is 1/2^{m} = {0.5**m:.4g}; gate needs at least {min_problems(alpha)} shared problems (or a larger "
                "`alpha`)")

    def format(self) -> str:
        c = self.comparison
        lo, hi = c.ci
        conf = int(round((1 - c.alpha) * 100))
        lines = [f"bench {self.bench}, {self.metric} on {c.num_problems} shared problems",
                 f"baseline  {c.baseline:.4f}", f"candidate {c.candidate:.4f}",
                 f"difference {_signed(c.diff)}  ({conf}% paired bootstrap CI {_signed(lo)} to {_signed(hi)})",
                 (f"test: H0 difference <= {_signed(-c.margin)} ({self.mode}), paired permutation p = {c.p_value:.4g}, "
                  f"alpha {c.alpha}"),
                 *[f"note: {n}" for n in self.notes], *self.warnings,
                 f"decision: {'ACCEPT' if self.accept else 'REJECT'}"]
        return "\n".join(lines)


def compare_runs(baseline: str | Path, candidate: str | Path, *, metric: str = "pass@1", alpha: float = 0.05,
                 mode: str = "non-inferior", margin: float | None = None, seed: int = 0,
                 allow_partial: bool = False) -> GateResult:
    """Paired test of two runs of the same bench on their shared problems (see module docstring). A partial
    run (no summary, a stale one, or `complete: false`) is refused in one line unless `allow_partial`, which
    compares only the problems complete in both runs (`GateResult.partial` says so)."""
    if mode not in MODES:
        raise ConfigError("mode", f"must be one of {', '.join(MODES)} (got {mode!r})")
    if not 0 < alpha < 1:
        raise ConfigError("alpha", f"must be in (0, 1) (got {alpha})")
    margin = (DEFAULT_MARGIN if mode == "non-inferior" else 0.0) if margin is None else margin
    if margin < 0:
        raise ConfigError("margin", f"must be >= 0 (got {margin})")
    subset, partial = comparable_problems(baseline, candidate, allow_partial)
    base_cfg, base = per_problem_values(baseline, metric, subset)
    cand_cfg, cand = per_problem_values(candidate, metric, subset)
    if base_cfg.get("bench") != cand_cfg.get("bench"):
        raise UsageError(f"the runs are of different benches ({base_cfg.get('bench')} vs {cand_cfg.get('bench')}); "
                         "gate compares two runs of the same bench")
    shared = sorted(set(base) & set(cand))
    if not shared and partial:
        raise UsageError(f"{baseline} and {candidate} have no problem with every sample in both; finish them "
                         "(rerun their commands)")
    if not shared:
        raise UsageError(f"{baseline} and {candidate} share no problems; compare runs over the same problems")
    notes = [partial] if partial else []
    if base_cfg.get("data_sha256") and cand_cfg.get("data_sha256") and \
            base_cfg["data_sha256"] != cand_cfg["data_sha256"]:
        notes.append("the runs loaded different data files; only problem ids are matched")
    if len(shared) < max(len(base), len(cand)):
        notes.append(f"compared on {len(shared)} shared problems (baseline has {len(base)}, candidate {len(cand)})")
    comparison = paired_test([base[p] for p in shared], [cand[p] for p in shared], alpha=alpha, margin=margin,
                             seed=seed)
    warnings = comparability_warnings(("baseline", base_cfg, {}),
                                      ("candidate", cand_cfg, {}))
    return GateResult(str(base_cfg.get("bench")), metric, mode, comparison, comparison.p_value < alpha, notes,
                      warnings, partial)
