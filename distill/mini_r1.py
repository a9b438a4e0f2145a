"""Mini reproduction of R1's distill-vs-RL ablation on 2 CPU cores: `python -m r1eval.distill.mini_r1`.

Stages (each skipped when its output already exists under --work, and the training stages continue
from their last checkpoint, so a killed run resumes where it stopped):
1. data: 2-digit addition problems (`r1eval.benches.arithmetic`), a training split and a disjoint held-out split.
2. teacher: a SCRIPTED SOLVER (not a neural model; no strong model fits this CPU) writes step-by-step
   column-addition traces `<think>...</think>` + boxed answer, 4 per training problem, with deliberate
   flaws at fixed rates (carry slips, loops, foreign-language words, missing summary) so rejection
   sampling has real work. The same solver answers the held-out split so its strength is measured.
3. filter: `distill.filter` keeps correct, readable traces (at most 1 per problem).
4. distilled: the embedded SmolLM2-135M-Instruct is fine-tuned on them (`r1eval distill train`, TRL SFT).
5. rl: the same student is trained with GRPO (`r1eval grpo --preset tiny-cpu`, TRL GRPOTrainer) for a fixed
   number of steps, enough for this preset to learn 2-digit addition.
6. eval: base, distilled and RL students through `r1eval run` on the held-out split (R1 sampling, n >= 4),
   with a token cap large enough that at most 5% of any arm's replies are truncated (measured and
   reported per arm; an arm above it is flagged in the report).
7. report: `r1eval report` over the runs into --out (reports/mini-r1/), plus what it found and why, both
   arms' compute side by side (optimizer steps, tokens generated, wall time), the filter report, and the
   provenance: every stage's `git describe --dirty`, which must be one clean commit (else the report is
   refused unless --allow-dirty).

Sizes: `MiniConfig` (about 1 hour on 2 quiet cores: 59 min measured at d1a07c5); `--smoke` runs every stage at toy sizes in
minutes (its report says it proves nothing).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

FOREIGN = "然后 我们 进位"  # words in another script, for the mixed-language flaw
ARMS = ("base", "distilled", "rl")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class MiniConfig:
    """Sizes of the mini reproduction (defaults: about 1 hour on 2 quiet CPU cores)."""

    train_problems: int = 400
    test_problems: int = 100
    traces_per_problem: int = 4
    keep_per_problem: int = 1
    sft_epochs: float = 1.0
    sft_learning_rate: float = 1e-4
    grpo_steps: int = 40  # the tiny-cpu preset learns 2-digit addition in about 30
    grpo_generations: int = 8
    grpo_prompts_per_step: int = 4
    # room to finish a reply: at 48 tokens every rollout was cut, so the policy never learnt to stop
    grpo_max_completion: int = 160
    grpo_learning_rate: float = 2e-5
    eval_n: int = 4
    eval_max_tokens: int = 256  # the base student is cut at 256 in 3.5% of replies (1.8% at 384)
    max_truncation: float = 0.05  # an arm whose held-out replies hit the cap more often is flagged
    seed: int = 0
    # scripted teacher flaw rates
    slip_rate: float = 0.15  # forgets the carry: wrong answer
    loop_rate: float = 0.05  # repeats one line many times
    foreign_rate: float = 0.05  # slips words of another language into the reasoning
    no_summary_rate: float = 0.05  # stops right after </think>

    def check(self) -> None:
        """The sizes below which the comparison says nothing (the smoke configuration is exempt)."""
        if self.test_problems < 100 or self.eval_n < 4:
            raise SystemExit(f"mini_r1: the held-out evaluation needs >= 100 problems x n >= 4 "
                             f"(got {self.test_problems} x {self.eval_n})")


SMOKE = replace(MiniConfig(), train_problems=16, test_problems=4, sft_epochs=1.0, grpo_steps=2, grpo_generations=4,
                grpo_prompts_per_step=2, grpo_max_completion=16, eval_n=2, eval_max_tokens=32)


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


def write_teacher_run(rows: list[dict[str, str]], data_path: Path, out: Path, cfg: MiniConfig, seed: int,
                      n: int) -> None:
    """The scripted teacher's `n` traces per problem as an ordinary run directory (config, graded samples,
    summary)."""
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
    params = SamplingParams(n=n, max_tokens=512, seed=seed)
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
        for i in range(n):
            s = sample_seed(seed, p.id, i)
            items.append((p, teacher_trace(a, b, random.Random(s), cfg), s))
        verdicts = bench.grade([(q, text) for q, text, _ in items])
        batch = [Sample(p.id, i, s, p.messages, text, v.extracted_answer, v.correct, len(text.split()), "stop",
                        p.gold, v.detail) for i, ((_, text, s), v) in enumerate(zip(items, verdicts, strict=True))]
        run.append(batch)
        samples += batch
    run.close()
    run.write_summary(summarize(samples, bench=bench.name, model=model.name, n=n,
                                equivalent=bench.equivalent))
    bench.close()


def tree_state(out: Path) -> dict[str, Any]:
    """This checkout as git sees it: `git describe --always --dirty`, HEAD, and the modified tracked files
    other than the report directory `out` (which this script itself rewrites)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    try:
        report_dir = out.resolve().relative_to(ROOT)
        exclude = [f":(exclude){report_dir}"]
    except ValueError:
        exclude = []
    dirty = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                      *exclude).splitlines() if line.strip()]
    return {"describe": git("describe", "--always", "--dirty", "--abbrev=40").strip() or None,
            "commit": git("rev-parse", "HEAD").strip() or None, "dirty": dirty}


class Stages:
    """work/stages.json: for each finished stage, its wall time and the tree it ran from."""

    def __init__(self, work: Path, tree: dict[str, Any]) -> None:
        self.path, self.tree = work / "stages.json", tree
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, name: str, finished: bool, fn: Any) -> None:
        """Run `fn` unless `finished` (its output exists), recording its wall time and tree."""
        print(f"[mini-r1] {name}: {'done already, skipped' if finished else 'running'}", flush=True)
        if finished:
            return
        t0 = time.perf_counter()
        fn()
        seconds = round(time.perf_counter() - t0, 1) + float(self.done.get(name, {}).get("seconds", 0.0))
        self.done[name] = {"seconds": seconds, "git_describe": self.tree["describe"], "commit": self.tree["commit"],
                           "dirty": self.tree["dirty"]}
        self.path.write_text(json.dumps(self.done, indent=2) + "\n")

    def seconds(self, *names: str) -> float:
        return sum(float(self.done.get(n, {}).get("seconds", 0.0)) for n in names)


def stage_dir(work: Path, name: str) -> Path:
    """Where a stage writes: the scripted teacher's traces, then `r1eval loop`'s layout (arms/, evals/)."""
    return work / {"teacher_train": "teacher_train", "filtered": "arms/distilled/filtered", "sft": "arms/distilled/sft",
                   "grpo": "arms/rl/grpo", **{f"eval_{k}": f"evals/{k}__add2_heldout" for k in ("teacher", *ARMS)}
                   }[name]


def mini_recipe(work: Path, cfg: MiniConfig, train_path: Path, test_path: Path) -> dict[str, Any]:
    """The training and evaluation stages as an `r1eval loop` recipe: the distilled arm from the scripted
    teacher's traces, the RL arm from the base student, both evaluated on the held-out split."""
    grpo = {"preset": "tiny-cpu", "max_steps": cfg.grpo_steps, "num_generations": cfg.grpo_generations,
            "prompts_per_step": cfg.grpo_prompts_per_step, "max_completion_length": cfg.grpo_max_completion,
            "learning_rate": cfg.grpo_learning_rate, "use_vllm": False, "seed": cfg.seed}
    return {"name": "mini-r1", "output": str(work), "problems": str(train_path),
            "arms": {"distilled": {"traces": str(stage_dir(work, "teacher_train")),
                                   "filter": {"max_per_prompt": cfg.keep_per_problem},
                                   "train": {"preset": "tiny-cpu", "num_train_epochs": cfg.sft_epochs,
                                             "learning_rate": cfg.sft_learning_rate}},
                     "rl": {"grpo": grpo}},
            "eval": {"benches": [str(test_path)], "n": cfg.eval_n, "max_tokens": cfg.eval_max_tokens, "seed": cfg.seed,
                     "no_progress": True}}


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise SystemExit(f"[mini-r1] {what} failed with exit code {rc}")


def _set_label(run_dir: Path, label: str) -> None:
    path = run_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["label"] = label
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run every stage; the report lands in --out."""
    parser = argparse.ArgumentParser(prog="python -m r1eval.distill.mini_r1", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/mini-r1"), help="work directory (models, runs)")
    parser.add_argument("--out", type=Path, default=Path("reports/mini-r1"), help="report directory")
    parser.add_argument("--smoke", action="store_true", help="toy sizes, minutes: checks the pipeline, proves nothing")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write the report even when the stages ran from a modified tree or several commits")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    cfg = SMOKE if args.smoke else MiniConfig()
    if not args.smoke:
        cfg.check()
    work, out = args.work, args.out
    tree = tree_state(out)
    if tree["dirty"] and not args.allow_dirty:
        print(f"mini_r1: the tree has uncommitted changes ({', '.join(tree['dirty'][:3])}); commit them (every "
              "stage must run from one clean commit) or pass --allow-dirty", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work.mkdir(parents=True, exist_ok=True)
    stages = Stages(work, tree)

    from r1eval.cli import main as r1eval

    train_path, test_path = work / "data" / "add2_train.jsonl", work / "data" / "add2_heldout.jsonl"

    def make_data() -> None:
        from r1eval.benches.arithmetic import train_test_split, write_split

        train, test = train_test_split(cfg.train_problems, cfg.test_problems, digits=2, ops="+", seed=cfg.seed)
        write_split(train, train_path)
        write_split(test, test_path)

    stages.run("data", test_path.is_file(), make_data)
    train_rows = [json.loads(line) for line in train_path.read_text().splitlines()]
    test_rows = [json.loads(line) for line in test_path.read_text().splitlines()]
    stages.run("teacher", (stage_dir(work, "teacher_train") / "summary.json").is_file(),
               lambda: write_teacher_run(train_rows, train_path, stage_dir(work, "teacher_train"), cfg, cfg.seed,
                                         cfg.traces_per_problem))
    stages.run("eval_teacher", (stage_dir(work, "eval_teacher") / "summary.json").is_file(),
               lambda: write_teacher_run(test_rows, test_path, stage_dir(work, "eval_teacher"), cfg, cfg.seed + 1,
                                         cfg.eval_n))

    # filter, SFT, GRPO and the evaluations are `r1eval loop`'s stages (one loop, not two); the report is ours
    from r1eval.cli import build_parser
    from r1eval.loop import plan

    recipe = mini_recipe(work, cfg, train_path, test_path)
    (work / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    for stage in plan(recipe, build_parser())[:-1]:
        stages.run(stage.name, stage.finished,
                   lambda stage=stage: _check(r1eval(stage.argv), f"r1eval {stage.command_line()}"))
    for label in ARMS:
        _set_label(stage_dir(work, f"eval_{label}"), label)
    _set_label(stage_dir(work, "eval_teacher"), "teacher")
    # the training logs next to the evaluations they produced: the report draws them as training curves
    shutil.copy(stage_dir(work, "sft") / "steps.jsonl", stage_dir(work, "eval_distilled") / "steps.jsonl")
    shutil.copy(stage_dir(work, "grpo") / "steps.jsonl", stage_dir(work, "eval_rl") / "steps.jsonl")

    provenance = run_provenance(work, stages, tree)
    if not provenance["clean"] and not args.allow_dirty:
        print(f"mini_r1: the runs come from {', '.join(provenance['commits']) or 'an unknown commit'}, not one clean "
              "commit; rerun every stage from a clean checkout (new --work) or pass --allow-dirty", file=sys.stderr)
        return 2
    write_mini_report(work, out, cfg, stages, provenance, smoke=args.smoke)
    print(f"[mini-r1] report in {out}/report.md")
    return 0


def run_provenance(work: Path, stages: Stages, tree: dict[str, Any]) -> dict[str, Any]:
    """Every commit the stages and the runs they wrote were made from (stages.json, each run's config.json
    and its resumes); clean when that is one commit without local changes."""
    commits = {s.get("git_describe") for s in stages.done.values()}
    for name in ("sft", "grpo", *(f"eval_{a}" for a in ARMS), "eval_teacher", "teacher_train"):
        config_path = stage_dir(work, name) / "config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text())
            commits.add(config.get("git_commit"))
            commits.update(r.get("git_commit") for r in config.get("resumes", []))
    dirty = sorted({p for s in stages.done.values() for p in s.get("dirty", [])})
    commits.discard(None)
    clean = len(commits) == 1 and not dirty and not next(iter(commits)).endswith("-dirty")
    return {"commits": sorted(commits), "dirty_files": dirty, "clean": clean, "report_tree": tree}


def _summary(work: Path, name: str) -> dict[str, Any]:
    return json.loads((stage_dir(work, name) / "summary.json").read_text())


def arm_compute(work: Path, cfg: MiniConfig, stages: Stages) -> dict[str, dict[str, Any]]:
    """Both arms' training compute: optimizer steps, tokens generated, tokens trained on, wall time."""
    from transformers import AutoTokenizer

    from r1eval.records import read_jsonl
    from r1eval.training import read_steps

    tokenizer = AutoTokenizer.from_pretrained(stage_dir(work, "sft") / "model")

    def tokens(texts: list[str]) -> int:
        return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else 0

    teacher = [r["completion"] for r in read_jsonl(stage_dir(work, "teacher_train") / "samples.jsonl")]
    kept = [r["messages"][-1]["content"] for r in read_jsonl(stage_dir(work, "filtered") / "train.jsonl")]
    sft_result = json.loads((stage_dir(work, "sft") / "result.json").read_text())
    steps = read_steps(stage_dir(work, "grpo") / "steps.jsonl")
    per_step = json.loads((stage_dir(work, "grpo") / "config.json").read_text())["plan"]["completions_per_step"]
    rl_tokens = round(sum(float(s.get("completion_length") or 0.0) * per_step for s in steps))
    sft_log = read_steps(stage_dir(work, "sft") / "steps.jsonl")
    return {
        "distilled": {"optimizer_steps": sft_result["global_steps"], "tokens_generated": tokens(teacher),
                      "tokens_generated_by": "the scripted teacher (student tokenizer), all traces before filtering",
                      "tokens_trained_on": round(tokens(kept) * cfg.sft_epochs),
                      "sequences_trained_on": round(len(kept) * cfg.sft_epochs),
                      "wall_seconds": stages.seconds("teacher", "distilled/filter", "distilled/train"),
                      "final_loss": sft_log[-1].get("loss") if sft_log else None},
        "rl": {"optimizer_steps": len(steps), "tokens_generated": rl_tokens,
               "tokens_generated_by": "the student itself (GRPO rollouts)", "tokens_trained_on": rl_tokens,
               "sequences_trained_on": len(steps) * per_step, "wall_seconds": stages.seconds("rl/grpo"),
               "accuracy_reward_first_5": _mean_reward(steps[:5]), "accuracy_reward_last_5": _mean_reward(steps[-5:]),
               "rollouts_cut_first_5": _mean_of(steps[:5], "truncated_fraction"),
               "rollouts_cut_last_5": _mean_of(steps[-5:], "truncated_fraction")},
    }


def _mean_of(steps: list[dict[str, Any]], key: str) -> float | None:
    values = [float(s[key]) for s in steps if s.get(key) is not None]
    return sum(values) / len(values) if values else None


def _mean_reward(steps: list[dict[str, Any]]) -> float | None:
    values = [s.get("rewards", {}).get("accuracy_reward") for s in steps]
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _comparison(comps: list[dict[str, Any]], candidate: str, baseline: str) -> dict[str, Any] | None:
    """The report's paired comparison of two labels, oriented as candidate minus baseline."""
    for c in comps:
        if (c["candidate"], c["baseline"]) == (candidate, baseline):
            return c
        if (c["candidate"], c["baseline"]) == (baseline, candidate):
            lo, hi = c["ci95"]
            return {**c, "candidate": candidate, "baseline": baseline, "diff": -c["diff"], "ci95": [-hi, -lo],
                    "candidate_pass@1": c["baseline_pass@1"], "baseline_pass@1": c["candidate_pass@1"]}
    return None


def findings(summaries: dict[str, dict[str, Any]], comps: list[dict[str, Any]], compute: dict[str, Any],
             truncation_ok: bool, cfg: MiniConfig) -> list[str]:
    """What the numbers say, in words: which arm won, by how much, and the measured reasons."""
    p1 = {k: summaries[k]["pass@1"] for k in summaries}
    lines = []
    c = _comparison(comps, "rl", "distilled")
    if c is None:
        return ["No paired comparison of the two arms was possible (no shared problems)."]
    verdict = ("RL beats distillation" if c["significant"] and c["diff"] > 0 else
               "distillation beats RL" if c["significant"] else "neither arm is significantly better")
    lines.append(f"**Here {verdict}.** Held-out pass@1: RL {p1['rl']:.3f}, distilled {p1['distilled']:.3f}, base "
                 f"{p1['base']:.3f}, scripted teacher {p1['teacher']:.3f}; RL minus distilled {c['diff']:+.3f} (95% CI "
                 f"{c['ci95'][0]:+.3f} to {c['ci95'][1]:+.3f}, paired permutation p = {c['p_value']:.3g}, "
                 f"{c['shared_problems']} problems x n={cfg.eval_n}).")
    for arm in ("distilled", "rl"):
        b = _comparison(comps, arm, "base")
        if b is not None:
            lines.append(f"- {arm} vs base: {b['diff']:+.3f} (95% CI {b['ci95'][0]:+.3f} to {b['ci95'][1]:+.3f}, "
                         f"p = {b['p_value']:.3g}{', significant' if b['significant'] else ', not significant'}).")
    rl, sft = compute["rl"], compute["distilled"]
    first, last = rl.get("accuracy_reward_first_5"), rl.get("accuracy_reward_last_5")
    length = {k: summaries[k]["mean_completion_tokens"] for k in ("distilled", "rl")}
    lines += ["", "Measured:",
              f"- The base student solves {p1['base']:.1%} of held-out samples" + (
                  f"; during RL its mean accuracy reward was {first:.2f} over the first 5 steps and {last:.2f} over "
                  f"the last 5 ({rl['optimizer_steps']} steps)" + (
                      f"; {rl['rollouts_cut_first_5']:.0%} then {rl['rollouts_cut_last_5']:.0%} of its rollouts hit "
                      f"the {cfg.grpo_max_completion}-token training cap" if rl.get("rollouts_cut_last_5") is not None
                      else "") + "." if first is not None and last is not None else "."),
              f"- The distilled arm imitated {sft['sequences_trained_on']} teacher traces in "
              f"{sft['optimizer_steps']} optimizer steps (the teacher itself scores {p1['teacher']:.3f}). Replies "
              f"average {length['distilled']:.0f} tokens (distilled) and {length['rl']:.0f} tokens (RL); no answer "
              f"in {summaries['distilled']['no_answer_rate']:.1%} (distilled) and "
              f"{summaries['rl']['no_answer_rate']:.1%} (RL) of replies.",
              "", "Why (our interpretation of those measurements):"]
    rl_vs_base = _comparison(comps, "rl", "base")
    if rl_vs_base is not None and not (rl_vs_base["significant"] and rl_vs_base["diff"] > 0):
        lines.append(f"- RL did not make the student significantly better than the base within {rl['optimizer_steps']} "
                     f"steps ({cfg.grpo_prompts_per_step} prompts x G={cfg.grpo_generations}): with a "
                     f"{p1['base']:.0%} start, most groups hold zero or one correct sample, so the accuracy reward "
                     "gives GRPO little to reinforce at this budget.")
    if c["significant"] and c["diff"] > 0:
        lines += ["- DeepSeek-R1's finding (distillation beats RL for small students) comes from hard benchmarks "
                  "where a small model rarely samples a correct answer, so RL has little to reinforce. 2-digit "
                  f"addition is the opposite regime: the base student already gets {p1['base']:.0%} right and a group "
                  f"of {cfg.grpo_generations} samples usually holds a correct one, so the reward is dense and GRPO "
                  "only has to make an existing skill reliable.",
                  "- RL is rewarded for exactly what is graded (the final answer); SFT teaches the teacher's whole "
                  "written procedure, and a 135M model copying a longer trace has more places to slip a digit."]
    elif c["significant"]:
        lines += ["- As in DeepSeek-R1, copying a stronger teacher's verified procedure helped the small student "
                  "more than RL on its own samples: the filtered traces show it a correct method it rarely finds "
                  "by sampling within this RL budget."]
    else:
        lines += ["- At these sizes the two recipes end up within noise of each other; a larger held-out set or "
                  "a harder task would be needed to separate them."]
    lines.append(f"- Compute was not equal: RL took {rl['wall_seconds'] / 60:.0f} min and generated "
                 f"{rl['tokens_generated']:,} tokens itself; distillation took {sft['wall_seconds'] / 60:.0f} min "
                 f"of student training on {sft['tokens_generated']:,} teacher tokens that cost nothing here (a "
                 "script wrote them; a real teacher's generation would dominate the distillation budget).")
    if not truncation_ok:
        lines.append(f"- **Caution:** at least one arm had more than {cfg.max_truncation:.0%} of its replies cut "
                     "at the evaluation cap (see Truncation); a cut reply is graded as cut, so its pass@1 is a lower "
                     "bound.")
    return lines


def write_mini_report(work: Path, out: Path, cfg: MiniConfig, stages: Stages, provenance: dict[str, Any], *,
                      smoke: bool) -> None:
    """The ablation report plus the mini-run specifics: findings, compute, truncation, teacher, provenance."""
    from r1eval.grading.math import MATH_GRADER_VERSION
    from r1eval.report import write_report

    names = ["teacher", *ARMS]
    runs = [stage_dir(work, f"eval_{k}") for k in names]
    out.mkdir(parents=True, exist_ok=True)
    for run in runs:  # small copies of the evaluated runs next to the report (no weights), for provenance
        dest = out / "evals" / run.name
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "summary.json", "samples.jsonl", "steps.jsonl"):
            if (run / name).is_file():
                shutil.copy(run / name, dest / name)
    shutil.copy(stage_dir(work, "filtered") / "filter_report.md", out / "filter_report.md")
    shutil.copy(stage_dir(work, "filtered") / "filter_report.json", out / "filter_report.json")
    summaries = {k: _summary(work, f"eval_{k}") for k in names}
    truncation = {k: summaries[k]["truncation_rate"] for k in ARMS}
    truncation_ok = all(v <= cfg.max_truncation for v in truncation.values())
    compute = arm_compute(work, cfg, stages)
    filt = json.loads((stage_dir(work, "filtered") / "filter_report.json").read_text())
    grpo_preset = json.loads((stage_dir(work, "grpo") / "config.json").read_text())["preset"]
    title = "Mini R1: distillation vs RL on a 135M student" + (" (SMOKE TEST: toy sizes, proves nothing)"
                                                                if smoke else "")
    # a first pass for the paired comparisons, then the report again with the findings they support
    write_report(runs, out, labels={}, title=title)
    comps = json.loads((out / "report.json").read_text())["comparisons"]
    found = findings(summaries, comps, compute, truncation_ok, cfg)
    rl, sft = compute["rl"], compute["distilled"]
    flagged = [k for k, v in truncation.items() if v > cfg.max_truncation]
    preface = "\n".join([
        *(["**SMOKE TEST** (`--smoke`): every stage at toy sizes to check the pipeline; no conclusion can be "
           "drawn from these numbers.", ""] if smoke else []),
        "## What this found", "", *found, "",
        "## Compute, side by side", "",
        "| | optimizer steps | tokens generated | tokens trained on | sequences trained on | training wall time |",
        "|---|---|---|---|---|---|",
        f"| distilled | {sft['optimizer_steps']} | {sft['tokens_generated']:,} (scripted teacher) | "
        f"{sft['tokens_trained_on']:,} | {sft['sequences_trained_on']:,} | {sft['wall_seconds'] / 60:.1f} min |",
        f"| rl | {rl['optimizer_steps']} | {rl['tokens_generated']:,} (student rollouts) | {rl['tokens_trained_on']:,} | "
        f"{rl['sequences_trained_on']:,} | {rl['wall_seconds'] / 60:.1f} min |",
        "",
        "Distillation's wall time is teacher + filter + SFT (the teacher is a script, so nearly all of it is SFT); "
        "RL's is the GRPO run. Evaluation is not counted; stage times: "
        + ", ".join(f"{k} {v['seconds'] / 60:.1f} min" for k, v in stages.done.items()) + ".",
        "",
        "## Truncation", "",
        f"Share of held-out replies that hit the {cfg.eval_max_tokens}-token evaluation cap (limit "
        f"{cfg.max_truncation:.0%}): " + ", ".join(f"{k} {v:.1%}" for k, v in truncation.items()) + ". "
        + ("Every arm is within the limit, so the comparison is not decided by the cap." if truncation_ok else
           f"**FLAGGED: {', '.join(flagged)} above the limit; a cut reply is graded on its text as cut (wrong "
           "when the cut removed its answer), so those pass@1 values are lower bounds and the comparison is not "
           "settled.**"),
        "",
        "## How this was produced", "",
        f"Command: `python -m r1eval.distill.mini_r1{' --smoke' if smoke else ''}` on 2 CPU cores (no GPU). Task: 2-digit "
        f"addition, {cfg.train_problems} training problems, {cfg.test_problems} disjoint held-out problems.",
        "",
        "**The teacher is a scripted solver, not a neural model.** It writes step-by-step column-addition traces "
        "(`<think>` reasoning, then a boxed answer) and makes deliberate mistakes at fixed rates (carry slip "
        f"{cfg.slip_rate:.0%}, repetition loop {cfg.loop_rate:.0%}, foreign-language words {cfg.foreign_rate:.0%}, "
        f"missing summary {cfg.no_summary_rate:.0%}) so that rejection sampling has something to reject. Its row "
        "in the table is that solver scored by the same verifier on the held-out split; its 'tokens' there are "
        "whitespace-separated words (a script has no tokenizer).",
        "",
        f"- Rejection sampling: {filt['kept']} of {filt['total']} teacher traces kept (at most "
        f"{cfg.keep_per_problem} per problem); rejected by reason: "
        + ", ".join(f"{k} {v}" for k, v in filt["rejected_by_reason"].items()) + " (details: filter_report.md).",
        f"- Distilled arm: SmolLM2-135M-Instruct (embedded), `r1eval distill train --preset tiny-cpu` (TRL "
        f"SFTTrainer), {cfg.sft_epochs:g} epoch{'s' if cfg.sft_epochs != 1 else ''}, lr {cfg.sft_learning_rate:g}, loss on the reply only.",
        f"- RL arm: the same student, `r1eval grpo --preset tiny-cpu` (TRL GRPOTrainer; rewards "
        f"{grpo_preset['rewards']}, beta {grpo_preset['beta']}, T {grpo_preset['temperature']}), "
        f"{cfg.grpo_prompts_per_step} prompts x G={cfg.grpo_generations} per step, completions <= "
        f"{cfg.grpo_max_completion} tokens, lr {cfg.grpo_learning_rate:g}, {cfg.grpo_steps} steps.",
        f"- Evaluation: `r1eval run` on the held-out split, n={cfg.eval_n} samples per problem, T=0.6, top-p 0.95, "
        f"at most {cfg.eval_max_tokens} new tokens.",
        f"- Grading: math grader v{MATH_GRADER_VERSION} (math-verify underneath) for the teacher filter, the RL "
        "accuracy reward and every evaluation alike; it gives no credit for arithmetic restated from the question "
        "(a v2 RL arm learnt to exploit that, see the git history of this report).",
        "- Provenance: every stage and run was made from "
        + (f"commit `{provenance['commits'][0]}` (clean)" if provenance["clean"] else
           f"**{', '.join(provenance['commits'])} with local changes {provenance['dirty_files']} "
           "(--allow-dirty)**") + "; per stage in report.json (`mini_r1.stages`).",
        f"- Mini config: `{json.dumps(asdict(cfg))}`.",
    ])
    write_report(runs, out, labels={}, title=title, preface=preface)
    report = json.loads((out / "report.json").read_text())
    report["mini_r1"] = {"smoke": smoke, "config": asdict(cfg), "compute": compute, "truncation": truncation,
                         "truncation_ok": truncation_ok, "findings": found, "provenance": provenance,
                         "stages": stages.done}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
