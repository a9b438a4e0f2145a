"""The judge inside `r1eval run`: grading modes, the pending file, and the judge's summary keys.

Modes: `grader` (the judge's verdict is the score: SimpleQA, `--grader judge`), `second-opinion` (the rule
grader scores, the judge's verdict is recorded beside it) and `cascade` (`--judge-decides-negatives`:
OpenCompass's CascadeEvaluator order; the judge decides only samples the rule grader calls wrong or
unanswered).

A judged run writes each generated, rule-graded sample first to `judge_pending.jsonl` (appended and
fsynced like samples.jsonl); once the generation is done the judge is asked about every pending sample
not yet in samples.jsonl, and each sample goes to samples.jsonl, with `detail.judge`, as soon as its
verdict arrives. samples.jsonl therefore only ever holds final verdicts: a resume generates nothing that
is pending and asks the judge nothing about a sample already in samples.jsonl; a judge that stays down
leaves the unjudged samples pending for the rerun.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from r1eval.judge.client import Judge, JudgeDown, JudgeSpec, prompt_key
from r1eval.records import Messages, Problem, Sample
from r1eval.rundir import RunDir, read_samples

PENDING_FILE = "judge_pending.jsonl"
MODES = ("grader", "second-opinion", "cascade")
NO_ANSWER = "no answer after </think> (not sent to the judge)"


@dataclass
class JudgeSetup:
    """A run's judge: who judges, and how its verdict combines with the rule grader's."""

    spec: JudgeSpec
    mode: str  # one of MODES
    judge_only: bool = False  # the bench has no rule grader (SimpleQA)
    _judge: Judge | None = field(default=None, repr=False)

    def start(self, run_dir: RunDir | None = None) -> Judge:
        """The started judge (started once; an unreachable judge is one line, exit 2). With `run_dir`, its
        config.json records the judge's engine and the sampling fields exactly as sent."""
        if self._judge is None:
            self._judge = Judge(self.spec)
            if run_dir is not None:
                run_dir.update_config({"judge_backend_info": self._judge.describe(),
                                       "judge_effective_sampling": self._judge.effective_sampling()})
        return self._judge

    def preflight(self, run_dir: RunDir) -> None:
        """Before any generation: a judge server must answer now (one line, exit 2, if not). A local judge
        model (its path checked already) starts only after the policy's engine is closed, so the two never
        hold the GPU at once."""
        from r1eval.backends import REGISTRY

        if REGISTRY[self.spec.backend].is_server:
            self.start(run_dir)

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()
            self._judge = None


def config_fields(setup: JudgeSetup | None) -> dict[str, Any]:
    """config.json fields: `judge` (None without one; part of the resume identity) and `judge_options`
    (how the judge was reached)."""
    if setup is None:
        return {"judge": None}
    return {"judge": {**setup.spec.identity(), "mode": setup.mode}, "judge_options": setup.spec.options()}


# ---------------------------------------------------------------------------------------------- pending file


def read_pending(run_dir: RunDir, done: set[tuple[str, int]]) -> list[Sample]:
    """Pending samples not yet in samples.jsonl (the last row of a (problem, sample) pair wins)."""
    rows = read_samples(run_dir.path / PENDING_FILE, repair=True, strict=True)
    latest = {(s.problem_id, s.sample_index): s for s in rows}
    return [s for key, s in latest.items() if key not in done]


def append_pending(run_dir: RunDir, samples: Sequence[Sample]) -> None:
    """Append generated samples awaiting a verdict, durably."""
    with (run_dir.path / PENDING_FILE).open("a", encoding="utf-8") as fh:
        fh.write("".join(s.to_json() + "\n" for s in samples))
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------------- judging


def question_text(messages: Messages) -> str:
    """The question as the judge sees it: the last user turn, without the math instruction."""
    from r1eval.benches.math import MATH_INSTRUCTION

    users = [m["content"] for m in messages if m.get("role") == "user"]
    text = users[-1] if users else ""
    return text.removesuffix(MATH_INSTRUCTION).rstrip()


def final_answer(completion: str) -> str | None:
    """Only the answer is judged: the text after `</think>`; None when there is none."""
    from r1eval.reasoning import answer_region

    region = answer_region(completion)
    return region.strip() if region and region.strip() else None


def apply_verdict(sample: Sample, record: dict[str, Any], setup: JudgeSetup) -> Sample:
    """The sample with the judge's verdict recorded and, by mode, scored."""
    detail = {**sample.detail, "judge": record}
    correct = sample.correct
    judged_correct = record["verdict"] == "CORRECT"
    if setup.mode == "grader":
        if not setup.judge_only:
            detail["rule_correct"] = sample.correct
        correct = judged_correct
    elif setup.mode == "cascade":
        detail["rule_correct"] = sample.correct
        if not sample.correct and judged_correct:
            correct = True
            detail["judge"] = {**record, "overrode_rule": True}
    return replace(sample, correct=correct, detail=detail)


def judge_run(setup: JudgeSetup, bench: Any, problems: Sequence[Problem], n: int, run_dir: RunDir) -> None:
    """Judge the run's pending samples (those of `problems`, sample index < n, not yet in samples.jsonl)."""
    done = {(s.problem_id, s.sample_index) for s in read_samples(run_dir.samples_path)}
    by_id = {p.id: p for p in problems}
    pending = [s for s in read_pending(run_dir, done) if s.problem_id in by_id and s.sample_index < n]
    judge_pending(setup, run_dir, pending,
                  lambda s: bench.sample_problem(by_id[s.problem_id], s.sample_index, s.seed))


def judge_pending(setup: JudgeSetup, run_dir: RunDir, pending: list[Sample],
                  problem_for: Callable[[Sample], Problem]) -> None:
    """Ask the judge about every pending sample and append each to samples.jsonl as its verdict arrives.
    `problem_for` gives the problem a sample was shown. The judge is started only if a question is left."""
    template = setup.spec.template
    assert template is not None
    identity = setup.spec.identity()
    prompts: dict[str, str] = {}
    waiting: dict[str, list[Sample]] = {}
    for sample in pending:
        answer = final_answer(sample.completion)
        if answer is None:
            record = {"verdict": "NOT_ATTEMPTED", "error": None, "reply": None, "template": template.name,
                      "template_sha256": template.sha256, "source": NO_ANSWER}
            run_dir.append([apply_verdict(sample, record, setup)])
            continue
        problem = problem_for(sample)
        prompt = template.render(question=question_text(problem.messages), reference=str(problem.gold or ""),
                                 answer=answer)
        key = prompt_key(identity, prompt)
        prompts[key] = prompt
        waiting.setdefault(key, []).append(sample)
    if not prompts:
        return
    try:
        for key, reply in setup.start(run_dir).ask(prompts):
            record = reply.record(template)
            run_dir.append([apply_verdict(s, record, setup) for s in waiting.pop(key)])
    except JudgeDown as exc:
        raise exc.lacking(sum(len(v) for v in waiting.values())) from None


# ---------------------------------------------------------------------------------------------- summary


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters; None when chance agreement is 1 (both constant and equal)."""
    if not a:
        return None
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    observed = float(np.mean(x == y))
    chance = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    return None if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def _judge_record(sample: Sample) -> dict[str, Any] | None:
    record = (sample.detail or {}).get("judge")
    return record if isinstance(record, dict) else None


def simpleqa_metrics(samples: Sequence[Sample], iters: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """simple-evals' SimpleQA aggregates over the judged samples (judge errors left out): shares of
    CORRECT, INCORRECT and NOT_ATTEMPTED, correct_given_attempted = correct / (correct + incorrect) and
    f1 = harmonic mean of correct and correct_given_attempted (0 where a denominator is 0), each with a
    95% percentile bootstrap CI resampling problems."""
    by_problem: dict[str, Counter[str]] = {}
    for s in samples:
        record = _judge_record(s)
        if record is not None and record.get("verdict") in ("CORRECT", "INCORRECT", "NOT_ATTEMPTED"):
            by_problem.setdefault(s.problem_id, Counter())[record["verdict"]] += 1
    counts = np.asarray([[c["CORRECT"], c["INCORRECT"], c["NOT_ATTEMPTED"]] for c in by_problem.values()],
                        dtype=float).reshape(-1, 3)

    def rates(totals: np.ndarray) -> dict[str, np.ndarray]:
        n = totals.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            correct, incorrect, not_attempted = (totals[..., i] / n for i in range(3))
            attempted = correct + incorrect
            cga = np.where(attempted > 0, correct / attempted, 0.0)
            f1 = np.where(cga + correct > 0, 2 * cga * correct / (cga + correct), 0.0)
        return {"correct": correct, "incorrect": incorrect, "not_attempted": not_attempted,
                "correct_given_attempted": cga, "f1": f1}

    judged = int(counts.sum())
    out: dict[str, Any] = {}
    if judged == 0:
        for name in ("correct", "incorrect", "not_attempted", "correct_given_attempted", "f1"):
            out[name], out[f"{name}_ci95"] = None, None
        return out
    point = rates(counts.sum(axis=0))
    rng = np.random.default_rng(seed)
    draws = counts[rng.integers(0, len(counts), size=(iters, len(counts)))].sum(axis=1)
    boot = rates(draws)
    for name, value in point.items():
        out[name] = float(value)
        lo, hi = np.nanquantile(boot[name], [0.025, 0.975])
        out[f"{name}_ci95"] = [float(lo), float(hi)]
    attempted = int(counts[:, :2].sum())
    out["metrics_over_samples"] = {"correct": judged, "incorrect": judged, "not_attempted": judged,
                                   "correct_given_attempted": attempted, "f1": judged, "pass@1": judged}
    return out


def judge_summary(setup: JudgeSetup, samples: Sequence[Sample],
                  summarize_judged: Callable[[list[Sample]], dict[str, Any]]) -> dict[str, Any]:
    """summary.json keys of a judged run. `summarize_judged` recomputes the standard metrics over the
    samples with a verdict (grader mode: a judge error is never scored as wrong)."""
    records = [(s, _judge_record(s)) for s in samples]
    errors = sum(1 for _, r in records if r is not None and r.get("verdict") is None)
    asked = [(s, r) for s, r in records if r is not None and r.get("reply") is not None]
    verdicts = Counter(r["verdict"] for _, r in records if r is not None and r.get("verdict"))
    out: dict[str, Any] = {"judge": {**setup.spec.identity(), "mode": setup.mode}, "judge_errors": errors,
                           "judge_asked": len(asked), "judge_verdicts": {g: verdicts.get(g, 0) for g in
                                                                         ("CORRECT", "INCORRECT", "NOT_ATTEMPTED")}}
    if setup.mode == "grader":
        judged = [s for s, r in records if r is not None and r.get("verdict") is not None]
        core = summarize_judged(judged)
        out.update({k: v for k, v in core.items() if k.startswith(("pass@", "cons@")) or k == "length_stats"})
        out.update(simpleqa_metrics(judged))
        if judged:
            out["pass@1"], out["pass@1_ci95"] = out["correct"], out["correct_ci95"]
        out["judged_samples"] = len(judged)
        return out
    compared = [(bool((s.detail or {}).get("rule_correct", s.correct)), r["verdict"] == "CORRECT")
                for s, r in asked if r.get("verdict") is not None]
    out["judge_agreement"] = (sum(a == b for a, b in compared) / len(compared)) if compared else None
    out["judge_kappa"] = cohen_kappa([a for a, _ in compared], [b for _, b in compared])
    out["judge_compared_samples"] = len(compared)
    if setup.mode == "cascade":
        out["judge_overrides"] = sum(1 for _, r in records if r is not None and r.get("overrode_rule"))
    return out


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Lines for the results table printed at the end of a judged run."""
    if "judge" not in summary:
        return []
    rows = [("judge", f"{summary['judge']['model']} ({summary['judge']['mode']}, {summary['judge']['template']})")]
    if summary.get("f1") is not None:
        rows.append(("correct / incorrect / not attempted", f"{summary['correct']:.4f} / {summary['incorrect']:.4f}"
                                                            f" / {summary['not_attempted']:.4f}"))
        rows.append(("correct given attempted, f1", f"{summary['correct_given_attempted']:.4f}, "
                                                     f"{summary['f1']:.4f}"))
    if summary.get("judge_agreement") is not None:
        kappa = summary["judge_kappa"]
        rows.append(("judge agreement with rule", f"{summary['judge_agreement']:.4f} over "
                     f"{summary['judge_compared_samples']} samples (kappa "
                     f"{'n/a' if kappa is None else f'{kappa:.3f}'})"))
    if "judge_overrides" in summary:
        rows.append(("judge overrides (cascade)", str(summary["judge_overrides"])))
    if summary.get("judge_errors"):
        rows.append(("judge errors (unparseable)", str(summary["judge_errors"])))
    return rows

