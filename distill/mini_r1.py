"""Mini reproduction of R1's distill-vs-RL ablation on 2 CPU cores: `python -m distill.mini_r1`.

Stages (each skipped when its output already exists under --work, so a killed run resumes):
1. data: 2-digit addition problems (`rl.tasks`), a training split and a disjoint held-out split.
2. teacher: a SCRIPTED SOLVER (not a neural model; no strong model fits this CPU) writes step-by-step
   column-addition traces `<think>...</think>` + boxed answer, 4 per training problem, with deliberate
   flaws at fixed rates (carry slips, loops, foreign-language words, missing summary) so rejection
   sampling has real work. The same solver answers the held-out split so its strength is measured.
3. filter: `distill.filter` keeps correct, readable traces (at most 1 per problem).
4. distilled: the embedded SmolLM2-135M-Instruct is fine-tuned on them (`distill.train`, TRL SFTTrainer).
5. rl: the same student is trained with GRPO (`r1eval grpo`, TRL GRPOTrainer) with about as many
   trained tokens as the SFT arm; wall times of both arms are recorded.
6. eval: base, distilled and RL students through `r1eval run` on the held-out split (R1 sampling).
7. report: `r1eval report` over the runs into reports/mini-r1/ (plus the filter report and provenance).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOREIGN = "然后 我们 进位"  # words in another script, for the mixed-language flaw


@dataclass
class MiniConfig:
    """Sizes of the mini reproduction (defaults: under an hour on 2 CPU cores shared with other jobs)."""

    train_problems: int = 64
    test_problems: int = 40
    traces_per_problem: int = 4
    keep_per_problem: int = 1
    sft_epochs: float = 2.0
    sft_learning_rate: float = 1e-4
    grpo_steps: int = 8
    grpo_generations: int = 4
    grpo_prompts_per_step: int = 2
    grpo_max_completion: int = 64
    grpo_learning_rate: float = 2e-5
    eval_n: int = 1
    eval_max_tokens: int = 64
    seed: int = 0
    # scripted teacher flaw rates
    slip_rate: float = 0.15  # forgets the carry: wrong answer
    loop_rate: float = 0.05  # repeats one line many times
    foreign_rate: float = 0.05  # slips words of another language into the reasoning
    no_summary_rate: float = 0.05  # stops right after </think>


def teacher_trace(a: int, b: int, rng: random.Random, cfg: MiniConfig) -> str:
    """A step-by-step column-addition trace for a + b (2-digit operands), with the configured flaws."""
    slip = rng.random() < cfg.slip_rate
    ones = a % 10 + b % 10
    carry = 0 if slip else ones // 10
    tens = a // 10 + b // 10 + carry
    total = tens * 10 + ones % 10
    lines = [rng.choice([f"Add the ones digits: {a % 10} + {b % 10} = {ones}.",
                         f"Ones column: {a % 10} + {b % 10} = {ones}."])]
    if ones >= 10:
        lines.append(f"Write {ones % 10} and carry {carry}." if not slip else f"Write {ones % 10}.")
    lines.append(rng.choice([f"Add the tens digits: {a // 10} + {b // 10}" + (f" + {carry}" if carry else "")
                             + f" = {tens}.",
                             f"Tens column: {a // 10} + {b // 10}" + (f" + {carry}" if carry else "")
                             + f" = {tens}."]))
    lines.append(f"So {a} + {b} = {total}.")
    if rng.random() < cfg.loop_rate:
        lines[1:1] = [lines[0]] * 8
    if rng.random() < cfg.foreign_rate:
        lines.insert(1, FOREIGN)
    summary = "" if rng.random() < cfg.no_summary_rate else rng.choice(
        [f"The answer is \\boxed{{{total}}}.", f"{a} + {b} = \\boxed{{{total}}}."])
    return "<think>\n" + "\n".join(lines) + "\n</think>\n" + summary


def write_teacher_run(rows: list[dict[str, str]], data_path: Path, out: Path, cfg: MiniConfig, seed: int) -> None:
    """The scripted teacher's traces as an ordinary run directory (config, graded samples, summary)."""
    from r1eval.benches.base import LoadOptions
    from r1eval.benches.math import MathBench
    from r1eval.metrics import summarize
    from r1eval.models import ModelSpec
    from r1eval.records import Problem, Sample, SamplingParams, sample_seed
    from r1eval.rundir import RunDir
    from r1eval.runner import RunSpec, build_config

    bench = MathBench(data_path.stem, f"user math file {data_path}", path=data_path)
    problems = bench.load(LoadOptions(data=data_path))
    by_id = {r["id"]: r for r in rows}
    model = ModelSpec("scripted column-addition solver (teacher)", "hub", "scripted/teacher")
    params = SamplingParams(n=cfg.traces_per_problem, max_tokens=512, seed=seed)
    spec = RunSpec(bench=bench, model=model, params=params, backend="scripted", load=LoadOptions(data=data_path))
    config = {**build_config(spec, problems, problems), "label": "teacher",
              "teacher": "scripted solver with flaw rates " + json.dumps(
                  {k: getattr(cfg, k) for k in ("slip_rate", "loop_rate", "foreign_rate", "no_summary_rate")})}
    run = RunDir(out)
    run.open(config)
    samples: list[Sample] = []
    for p in problems:
        a, b = (int(x) for x in by_id[p.id]["problem"].removeprefix("What is ").rstrip("?").split(" + "))
        items: list[tuple[Problem, str, int]] = []
        for i in range(cfg.traces_per_problem):
            s = sample_seed(seed, p.id, i)
            items.append((p, teacher_trace(a, b, random.Random(s), cfg), s))
        verdicts = bench.grade([(q, text) for q, text, _ in items])
        batch = [Sample(p.id, i, s, p.messages, text, v.extracted_answer, v.correct, len(text.split()), "stop",
                        p.gold, v.detail) for i, ((_, text, s), v) in enumerate(zip(items, verdicts, strict=True))]
        run.append(batch)
        samples += batch
    run.close()
    run.write_summary(summarize(samples, bench=bench.name, model=model.name, n=cfg.traces_per_problem,
                                equivalent=bench.equivalent))
    bench.close()


def _stage(name: str, done: bool) -> bool:
    print(f"[mini-r1] {name}: {'done already, skipped' if done else 'running'}", flush=True)
    return not done


def _set_label(run_dir: Path, label: str, extra: dict[str, Any] | None = None) -> None:
    path = run_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update({"label": label, **(extra or {})})
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _grpo_train_log(grpo_dir: Path, dest: Path) -> None:
    """GRPO's steps.jsonl as the report's train_log.jsonl (reward by component, length, KL per step)."""
    rows = []
    for line in (grpo_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
        flat.update({f"reward/{k}": v for k, v in (row.get("rewards") or {}).items()})
        rows.append(flat)
    dest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run every stage; the report lands in --out."""
    parser = argparse.ArgumentParser(prog="python -m distill.mini_r1", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/mini-r1"), help="work directory (models, runs)")
    parser.add_argument("--out", type=Path, default=Path("reports/mini-r1"), help="report directory")
    args = parser.parse_args(argv)
    cfg = MiniConfig()
    work, out = args.work, args.out
    work.mkdir(parents=True, exist_ok=True)
    timings_path = work / "timings.json"
    timings: dict[str, float] = json.loads(timings_path.read_text()) if timings_path.is_file() else {}

    def timed(name: str, fn: Any) -> None:
        t0 = time.perf_counter()
        fn()
        timings[name] = round(time.perf_counter() - t0, 1)
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")

    from r1eval.cli import main as r1eval

    train_path, test_path = work / "data" / "add2_train.jsonl", work / "data" / "add2_heldout.jsonl"
    if _stage("data", test_path.is_file()):
        from rl.tasks import train_test_split, write_split

        train, test = train_test_split(cfg.train_problems, cfg.test_problems, digits=2, ops="+", seed=cfg.seed)
        write_split(train, train_path)
        write_split(test, test_path)
    train_rows = [json.loads(line) for line in train_path.read_text().splitlines()]
    test_rows = [json.loads(line) for line in test_path.read_text().splitlines()]

    if _stage("teacher traces", (work / "teacher_train" / "summary.json").is_file()):
        timed("teacher", lambda: write_teacher_run(train_rows, train_path, work / "teacher_train", cfg, cfg.seed))
    if _stage("teacher on held-out", (work / "eval_teacher" / "summary.json").is_file()):
        write_teacher_run(test_rows, test_path, work / "eval_teacher", cfg, cfg.seed + 1)

    if _stage("filter", (work / "filtered" / "filter_report.json").is_file()):
        from distill.filter import FilterConfig, filter_traces, load_traces, write_filter_output

        traces, bench = load_traces(work / "teacher_train")
        fcfg = FilterConfig(max_per_prompt=cfg.keep_per_problem)
        kept, rejected = filter_traces(traces, fcfg, bench)
        write_filter_output(work / "filtered", kept, rejected, fcfg)

    if _stage("SFT (distilled)", (work / "sft" / "model" / "config.json").is_file()):
        from distill.train import train_student

        timed("sft", lambda: train_student(None, work / "filtered", work / "sft", preset="tiny-cpu",
                                           overrides={"num_train_epochs": cfg.sft_epochs,
                                                      "learning_rate": cfg.sft_learning_rate}))

    if _stage("GRPO (rl)", (work / "grpo" / "final" / "config.json").is_file()):
        shutil.rmtree(work / "grpo", ignore_errors=True)
        timed("grpo", lambda: _check(r1eval([
            "grpo", "--data", str(train_path), "--preset", "tiny-cpu", "--output", str(work / "grpo"),
            "--max-steps", str(cfg.grpo_steps), "--num-generations", str(cfg.grpo_generations),
            "--prompts-per-step", str(cfg.grpo_prompts_per_step),
            "--micro-batch-size", str(cfg.grpo_generations * cfg.grpo_prompts_per_step),
            "--max-completion-length", str(cfg.grpo_max_completion), "--learning-rate", str(cfg.grpo_learning_rate),
            "--no-vllm", "--seed", str(cfg.seed),
            # comparable compute: RL gets at most the distilled arm's training wall time
            "--max-minutes", f"{timings['sft'] / 60:.2f}"]), "r1eval grpo"))

    students = {"base": None, "distilled": work / "sft" / "model", "rl": work / "grpo" / "final"}
    for label, model in students.items():
        run_dir = work / f"eval_{label}"
        if _stage(f"eval {label}", (run_dir / "summary.json").is_file()):
            argv_run = ["run", "--bench", str(test_path), "-n", str(cfg.eval_n), "--max-tokens",
                        str(cfg.eval_max_tokens), "--seed", str(cfg.seed), "--output", str(run_dir), "--no-progress"]
            if model is not None:
                argv_run += ["--model", str(model)]
            timed(f"eval_{label}", lambda argv_run=argv_run: _check(r1eval(argv_run), "r1eval run"))
            _set_label(run_dir, label)
    shutil.copy(work / "sft" / "train_log.jsonl", work / "eval_distilled" / "train_log.jsonl")
    _grpo_train_log(work / "grpo", work / "eval_rl" / "train_log.jsonl")
    _set_label(work / "eval_teacher", "teacher")
    write_mini_report(work, out, cfg, timings)
    print(f"[mini-r1] report in {out}/report.md")
    return 0


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise SystemExit(f"[mini-r1] {what} failed with exit code {rc}")


def write_mini_report(work: Path, out: Path, cfg: MiniConfig, timings: dict[str, float]) -> None:
    """The ablation report plus the mini-run specifics (teacher disclosure, compute, filter report)."""
    from dataclasses import asdict

    from r1eval.report import write_report

    runs = [work / f"eval_{k}" for k in ("teacher", "base", "distilled", "rl")]
    out.mkdir(parents=True, exist_ok=True)
    # keep small copies of the evaluated runs next to the report (no weights), for provenance
    for run in runs:
        dest = out / "runs" / run.name
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "summary.json", "samples.jsonl", "train_log.jsonl"):
            if (run / name).is_file():
                shutil.copy(run / name, dest / name)
    shutil.copy(work / "filtered" / "filter_report.md", out / "filter_report.md")
    shutil.copy(work / "filtered" / "filter_report.json", out / "filter_report.json")
    sft_cfg = json.loads((work / "sft" / "train_config.json").read_text())
    grpo_steps = [json.loads(x) for x in (work / "grpo" / "steps.jsonl").read_text().splitlines()]
    truncation = {k: json.loads((work / f"eval_{k}" / "summary.json").read_text())["truncation_rate"]
                  for k in ("base", "distilled", "rl")}
    grpo_preset = json.loads((work / "grpo" / "config.json").read_text())["preset"]
    filt = json.loads((work / "filtered" / "filter_report.json").read_text())
    preface = "\n".join([
        "## How this was produced",
        "",
        "Command: `python -m distill.mini_r1` (2 CPU cores, no GPU). Task: 2-digit addition, "
        f"{cfg.train_problems} training problems, {cfg.test_problems} disjoint held-out problems.",
        "",
        "**The teacher is a scripted solver, not a neural model.** It writes step-by-step column-addition "
        "traces (`<think>` reasoning, then a boxed answer) and makes deliberate mistakes at fixed rates "
        f"(carry slip {cfg.slip_rate:.0%}, repetition loop {cfg.loop_rate:.0%}, foreign-language words "
        f"{cfg.foreign_rate:.0%}, missing summary {cfg.no_summary_rate:.0%}) so that rejection sampling has "
        "something to reject. Its row in the table below is that solver scored by the same verifier on the "
        "held-out split; it is measurably stronger than the student (see the table). Its 'tokens' are "
        "whitespace-separated words (a script has no tokenizer).",
        "",
        f"- Rejection sampling: {filt['kept']} of {filt['total']} teacher traces kept "
        f"(at most {cfg.keep_per_problem} per problem); rejected by reason: "
        + ", ".join(f"{k} {v}" for k, v in filt["rejected_by_reason"].items()) + " (details: filter_report.md).",
        f"- Distilled arm: SmolLM2-135M-Instruct (embedded), TRL SFTTrainer, preset tiny-cpu, "
        f"{sft_cfg['global_steps']} optimizer steps over {sft_cfg['rows']} traces ({cfg.sft_epochs:g} epochs, "
        f"lr {cfg.sft_learning_rate:g}), loss on the reply only; wall {timings.get('sft', float('nan')):.0f} s.",
        f"- RL arm: the same student, `r1eval grpo` (TRL GRPOTrainer) preset {grpo_preset['name']} (rewards "
        f"{grpo_preset['rewards']}, beta {grpo_preset['beta']}, T {grpo_preset['temperature']}), "
        f"{cfg.grpo_prompts_per_step} prompts x G={cfg.grpo_generations} per step, completions <= "
        f"{cfg.grpo_max_completion} tokens, lr {cfg.grpo_learning_rate:g}; {len(grpo_steps)} of "
        f"{cfg.grpo_steps} steps ran before the `--max-minutes` cap (= the SFT arm's wall time, "
        f"{timings.get('sft', float('nan')) / 60:.1f} min; the step in progress finishes); wall "
        f"{timings.get('grpo', float('nan')):.0f} s including model preparation. Mean accuracy reward over "
        f"its steps: {sum(r.get('reward', 0.0) for r in grpo_steps) / max(1, len(grpo_steps)):.3f}.",
        f"- Evaluation: `r1eval run` on the held-out split, n={cfg.eval_n} samples per problem, T=0.6, "
        f"top-p 0.95, max {cfg.eval_max_tokens} new tokens.",
        "- Truncation: " + ", ".join(f"{k} {v:.0%}" for k, v in truncation.items()) + " of held-out replies hit "
        f"the {cfg.eval_max_tokens}-token evaluation cap. A truncated reply has no closed answer and counts as "
        "wrong, so the students' pass@1 values are lower bounds; with this small cap the distilled student's "
        "teacher-style traces are often cut just before their boxed answer (a larger `eval_max_tokens` "
        "removes that, at more CPU time).",
        f"- Stage wall times (s): {json.dumps(timings)}. Mini config: `{json.dumps(asdict(cfg))}`.",
        "",
    ])
    write_report(runs, out, labels={}, title="Mini R1: distillation vs RL on a 135M student", preface=preface)


if __name__ == "__main__":
    raise SystemExit(main())
