"""Benchmark-gated checkpoints: `r1eval gate` (paired comparison of two run directories) and a TRL
callback that evaluates the policy with the harness during training.

Decision rule of `compare_runs` (per-problem values on the problems both runs share, paired):
  better        H0: candidate - baseline <= 0;        accept when the permutation p-value < alpha
  non-inferior  H0: candidate - baseline <= -margin;  accept when the permutation p-value < alpha
The difference is printed with its (1 - alpha) paired-bootstrap CI (r1eval.metrics.paired_test).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.metrics import PairedComparison, paired_test, pass_at_k
from r1eval.rundir import RunDir, read_samples, write_json
from rl.training import save_policy, share_from_main

MODES = ("non-inferior", "better")
DEFAULT_MARGIN = 0.05  # non-inferiority margin in metric units (5 points of pass@1)


def per_problem_values(run_dir: str | Path, metric: str) -> tuple[dict[str, Any], dict[str, float]]:
    """(config.json, problem id -> value of `metric`) for one run directory.

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
        return config, {str(r["problem_id"]): float(r["cons"]) for r in rows}
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

    def format(self) -> str:
        c = self.comparison
        lo, hi = c.ci
        conf = int(round((1 - c.alpha) * 100))
        lines = [f"bench {self.bench}, {self.metric} on {c.num_problems} shared problems",
                 f"baseline  {c.baseline:.4f}", f"candidate {c.candidate:.4f}",
                 f"difference {c.diff:+.4f}  ({conf}% paired bootstrap CI {lo:+.4f} to {hi:+.4f})",
                 (f"test: H0 difference <= {-c.margin:+.4f} ({self.mode}), paired permutation p = {c.p_value:.4g}, "
                  f"alpha {c.alpha}"),
                 *[f"note: {n}" for n in self.notes],
                 f"decision: {'ACCEPT' if self.accept else 'REJECT'}"]
        return "\n".join(lines)


def compare_runs(baseline: str | Path, candidate: str | Path, *, metric: str = "pass@1", alpha: float = 0.05,
                 mode: str = "non-inferior", margin: float | None = None, seed: int = 0) -> GateResult:
    """Paired test of two runs of the same bench on their shared problems (see module docstring)."""
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1) (got {alpha})")
    margin = (DEFAULT_MARGIN if mode == "non-inferior" else 0.0) if margin is None else margin
    if margin < 0:
        raise UsageError(f"--margin must be >= 0 (got {margin})")
    base_cfg, base = per_problem_values(baseline, metric)
    cand_cfg, cand = per_problem_values(candidate, metric)
    if base_cfg.get("bench") != cand_cfg.get("bench"):
        raise UsageError(f"the runs are of different benches ({base_cfg.get('bench')} vs {cand_cfg.get('bench')}); "
                         "gate compares two runs of the same bench")
    shared = sorted(set(base) & set(cand))
    if not shared:
        raise UsageError(f"{baseline} and {candidate} share no problems; compare runs over the same problems")
    notes = []
    if base_cfg.get("data_sha256") and cand_cfg.get("data_sha256") and \
            base_cfg["data_sha256"] != cand_cfg["data_sha256"]:
        notes.append("the runs loaded different data files; only problem ids are matched")
    if len(shared) < max(len(base), len(cand)):
        notes.append(f"compared on {len(shared)} shared problems (baseline has {len(base)}, candidate {len(cand)})")
    comparison = paired_test([base[p] for p in shared], [cand[p] for p in shared], alpha=alpha, margin=margin,
                             seed=seed)
    return GateResult(str(base_cfg.get("bench")), metric, mode, comparison, comparison.p_value < alpha, notes)


def cmd_gate(args: Any) -> int:
    """`r1eval gate`: print the comparison; exit 0 accept, 1 reject (bad input raises UsageError -> 2)."""
    result = compare_runs(args.baseline, args.candidate, metric=args.metric, alpha=args.alpha, mode=args.mode,
                          margin=args.margin, seed=args.seed)
    print(result.format())
    sys.stdout.flush()
    return 0 if result.accept else 1


def add_gate_flags(parser: Any, positive_int: Any, subject: str = "the policy") -> None:
    """The `--gate-*` training flags shared by `r1eval grpo` and `r1eval distill train`."""
    parser.add_argument("--gate-bench", action="append", default=[],
                        help=f"evaluate {subject} on this bench during training (repeatable)")
    parser.add_argument("--gate-every", type=positive_int, default=50, help="steps between gate evaluations (50)")
    parser.add_argument("--gate-n", type=positive_int, default=4, help="samples per problem in gate evaluations (4)")
    parser.add_argument("--gate-limit", type=positive_int, default=20, help="problems per gate bench (20)")
    parser.add_argument("--gate-max-tokens", type=positive_int, default=1024,
                        help="max new tokens in gate evaluations (1024)")
    parser.add_argument("--stop-on-regression", action="store_true",
                        help="stop when a gate bench is significantly worse than at the best step")


@dataclass
class GateSettings:
    """Evaluate the policy with the harness every `every` steps during GRPO."""

    benches: list[str]
    every: int = 50
    n: int = 4  # samples per problem
    limit: int | None = 20  # first N problems of each bench
    max_tokens: int = 1024
    temperature: float = 0.6
    top_p: float = 0.95
    seed: int = 0
    metric: str = "pass@1"
    stop_on_regression: bool = False
    alpha: float = 0.05
    at_start: bool = True  # evaluate the initial policy (step 0) as the first baseline

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_policy(model_dir: Path, settings: GateSettings, out_dir: Path, label: str) -> dict[str, float]:
    """Run the harness on each gate bench for the model in `model_dir`; each eval is an ordinary run
    directory `out_dir/<bench>`. Returns bench -> metric value."""
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.models import ModelSpec
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, run_eval

    scores = {}
    for name in settings.benches:
        bench = get_bench(name)
        spec = RunSpec(bench=bench, model=ModelSpec(label, "dir", str(model_dir)),
                       params=SamplingParams(n=settings.n, temperature=settings.temperature, top_p=settings.top_p,
                                             max_tokens=settings.max_tokens, seed=settings.seed),
                       backend="transformers", load=LoadOptions(), limit=settings.limit,
                       output=out_dir / Path(name).stem, progress=False)
        summary, _ = run_eval(spec)
        _, values = per_problem_values(out_dir / Path(name).stem, settings.metric)
        scores[name] = float(sum(values.values()) / len(values)) if values else float("nan")
        assert summary["num_problems"] == len(values)
    return scores


def make_gate_callback(settings: GateSettings, tokenizer: Any, gate_dir: Path, model_name: str) -> Any:
    """A TRL/transformers TrainerCallback that gates the policy with the harness (see GateCallback)."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    class GateCallback(TrainerCallback, ExportableState):
        """Every `settings.every` steps (and at step 0): save the policy, evaluate it on the gate benches as
        run directories under gate/step-N/, keep the best policy in gate/best/ (mean metric over benches),
        and, with stop_on_regression, stop training when a bench is significantly worse than at the best
        step (paired test, mode better with candidate=best, i.e. best beats current at level alpha).
        gate/history.jsonl has one line per evaluation.

        Under several processes the main process saves and evaluates while the others wait, and its
        decision (best step, stop) reaches every process. A checkpoint is saved after each evaluation, and
        the best step and history are part of every checkpoint (ExportableState), so a resumed run
        continues them; a run the gate stopped stays stopped."""

        def __init__(self) -> None:
            self.best_score: float | None = None
            self.best_step: int | None = None
            self.history: list[dict[str, Any]] = []
            self.stopped_at: int | None = None

        def state(self) -> dict[str, Any]:
            return {"args": {}, "attributes": {"best_score": self.best_score, "best_step": self.best_step,
                                               "history": self.history, "stopped_at": self.stopped_at}}

        def _evaluate(self, step: int, model: Any) -> dict[str, Any]:
            """Main process only: evaluate, update gate/, return the history row."""
            step_dir = gate_dir / f"step-{step:06d}"
            model_dir = save_policy(model, tokenizer, step_dir / "model")
            scores = evaluate_policy(model_dir, settings, step_dir, f"{model_name} step {step}")
            mean = sum(scores.values()) / len(scores)
            row: dict[str, Any] = {"step": step, "scores": scores, "mean": mean, "best_step": self.best_step}
            regressed = []
            if self.best_step is not None:
                best_dir = gate_dir / f"step-{self.best_step:06d}"
                for name in settings.benches:
                    stem = Path(name).stem
                    res = compare_runs(step_dir / stem, best_dir / stem, metric=settings.metric,
                                       alpha=settings.alpha, mode="better")
                    if res.accept:  # the best step is significantly better than now
                        regressed.append(name)
                row["regressed"] = regressed
            best_step, best_score = self.best_step, self.best_score
            if best_score is None or mean > best_score:
                best_step, best_score = step, mean
                best = gate_dir / "best"
                if best.exists():
                    shutil.rmtree(best)
                shutil.copytree(model_dir, best)
                write_json(gate_dir / "best.json", {"step": step, "scores": scores, "mean": mean})
                if self.best_step is not None:  # keep only the best policy's weights on disk
                    shutil.rmtree(gate_dir / f"step-{self.best_step:06d}" / "model", ignore_errors=True)
            else:
                shutil.rmtree(model_dir, ignore_errors=True)
            row.update(best_step_after=best_step, best_score_after=best_score,
                       stop=bool(regressed) and settings.stop_on_regression)
            with (gate_dir / "history.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"[gate] step {step}: " + ", ".join(f"{k} {settings.metric} {v:.3f}" for k, v in scores.items())
                  + f" (best step {best_step})" + (f"; regressed on {', '.join(regressed)}" if regressed else ""),
                  file=sys.stderr)
            if row["stop"]:
                print(f"[gate] stopping: significant regression on {', '.join(regressed)}", file=sys.stderr)
            return row

        def _gate(self, state: Any, control: Any, model: Any) -> None:
            """Every process: the main one evaluates, the others wait for its row and apply it too."""
            was_training = model.training
            row = self._evaluate(state.global_step, model) if state.is_world_process_zero else None
            model.train(was_training)
            row = share_from_main(row)
            self.history.append(row)
            self.best_step, self.best_score = row["best_step_after"], row["best_score_after"]
            control.should_save = True  # the gate's state and the policy it judged are checkpointed together
            if row["stop"]:
                self.stopped_at = state.global_step
                control.should_training_stop = True

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                gate_dir.mkdir(parents=True, exist_ok=True)
            if settings.at_start and state.global_step == 0 and not self.history and model is not None:
                self._gate(state, control, model)

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if state.global_step % settings.every == 0 and model is not None:
                self._gate(state, control, model)

    return GateCallback()

