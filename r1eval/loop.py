"""`r1eval loop RECIPE.yaml`: the R1 loop (teacher -> distil / GRPO arms -> evaluation -> report) from one recipe.

A recipe names the material and, per arm, the existing commands to run; each stage's keys are that command's
own options (the names `r1eval VERB --help` shows, with `_` for `-`):

```yaml
name: my-ablation
output: runs/my-ablation
teacher: {backend: openai, model: NAME, base_url: URL, api_key_env: VAR}   # or {model: PATH}
student: {model: PATH}                     # default: the embedded SmolLM2-135M-Instruct
problems: train.jsonl                      # or a bench name
arms:
  distill: {generate: {n: 4, max_tokens: 32768}, filter: {max_per_prompt: 1}, train: {preset: r1-distill}}
  rl: {grpo: {preset: r1-stage1, max_steps: 400}}
  distill+rl: {from: distill, grpo: {preset: r1-stage1}}
eval: {benches: [aime24, math500], n: 16, max_tokens: 32768}
report: {out: reports/my-ablation}
```

An arm is a sequence: `generate` (teacher traces: `r1eval run` of the teacher, keys are `run`'s options; or `traces: RUN_DIR|FILE` for traces made elsewhere), `filter`
(rejection sampling), `train` (SFT), `grpo`. `from: ARM` starts the arm from that arm's final model, `model:`
from another base model (R1-Zero's `rl-zero` from a base checkpoint). Every arm's final model, and the student
as `base`, is evaluated on every bench of `eval`; `report` compares them. Each stage is one `r1eval` command:
a finished stage is skipped (its output says it finished) and a killed one resumes, because every command
resumes its own output directory. `--dry-run` prints the commands and runs nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError

ARM_KEYS = {"generate", "filter", "train", "grpo", "from", "model", "traces", "label"}
TOP_KEYS = {"name", "output", "teacher", "student", "problems", "arms", "eval", "report"}
# labels the report's ablation table knows (r1eval.report): the distillation arm is "distilled"
DEFAULT_LABELS = {"distill": "distilled"}


@dataclass
class Stage:
    """One command of the loop: its name in the plan, the `r1eval` argv, and whether its output is finished."""

    name: str
    argv: list[str]
    finished: bool

    def command_line(self) -> str:
        return "r1eval " + " ".join(shlex.quote(a) for a in self.argv)


def read_recipe(path: Path) -> dict[str, Any]:
    """The recipe as a dict, checked for unknown top-level and arm keys (one line naming the key)."""
    import yaml

    if not path.is_file():
        raise UsageError(f"recipe {path} does not exist; pass the path of a YAML recipe (see `r1eval loop --help`)")
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"recipe {path}{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix it") from None
    if not isinstance(recipe, dict):
        raise UsageError(f"recipe {path} must be a YAML mapping with keys {', '.join(sorted(TOP_KEYS))}")
    unknown = set(recipe) - TOP_KEYS
    if unknown:
        raise UsageError(f"recipe {path}: unknown key '{sorted(unknown)[0]}'; known keys: {', '.join(sorted(TOP_KEYS))}")
    for key in ("output", "problems", "arms"):
        if not recipe.get(key):
            raise UsageError(f"recipe {path}: '{key}' is required")
    arms = recipe["arms"]
    if not isinstance(arms, dict):
        raise UsageError(f"recipe {path}: 'arms' must map arm names to their stages")
    for name, arm in arms.items():
        if not isinstance(arm, dict):
            raise UsageError(f"recipe {path}: arms.{name} must be a mapping of stages")
        bad = set(arm) - ARM_KEYS
        if bad:
            raise UsageError(f"recipe {path}: arms.{name} has unknown key '{sorted(bad)[0]}'; "
                             f"known: {', '.join(sorted(ARM_KEYS))}")
        if "from" in arm and arm["from"] not in arms:
            raise UsageError(f"recipe {path}: arms.{name}.from names '{arm['from']}', which is not an arm")
        if not ({"train", "grpo"} & set(arm)):
            raise UsageError(f"recipe {path}: arms.{name} trains nothing; give it 'train' (SFT) or 'grpo'")
        if "train" in arm and not ({"generate", "traces"} & set(arm)):
            raise UsageError(f"recipe {path}: arms.{name} has 'train' but no traces; add 'generate' (a teacher) "
                             "or 'traces: RUN_DIR'")
        if "generate" in arm and not recipe.get("teacher"):
            raise UsageError(f"recipe {path}: arms.{name} generates traces but the recipe has no 'teacher'")
    _check_from_cycles(arms, path)
    return recipe


def _check_from_cycles(arms: dict[str, Any], path: Path) -> None:
    for name in arms:
        seen, at = [name], arms[name].get("from")
        while at is not None:
            if at in seen:
                raise UsageError(f"recipe {path}: arms {' -> '.join([*seen, at])} start from each other")
            seen.append(at)
            at = arms[at].get("from")


def _subparser(parser: argparse.ArgumentParser, verb: tuple[str, ...]) -> argparse.ArgumentParser:
    for word in verb:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def stage_flags(cli: argparse.ArgumentParser, verb: tuple[str, ...], options: dict[str, Any] | None,
                where: str) -> list[str]:
    """A stage's recipe keys as that command's flags, looked up in its real parser `cli` (so a key is exactly an
    option of `r1eval VERB --help`). Booleans become switches; a key the command doesn't have is one line."""
    parser = _subparser(cli, verb)
    by_dest: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        if action.option_strings:
            by_dest.setdefault(action.dest, []).append(action)
    argv: list[str] = []
    for key, value in (options or {}).items():
        dest = key.replace("-", "_")
        actions = by_dest.get(dest)
        if not actions:  # a flag's other name (`epochs` for --num-train-epochs, --epochs)
            flag = "--" + key.replace("_", "-")
            alias = next((a for a in parser._actions if flag in a.option_strings), None)
            actions = by_dest.get(alias.dest) if alias is not None else None
        if not actions:
            known = ", ".join(sorted(d for d in by_dest if d != "help"))
            raise UsageError(f"recipe {where}: unknown key '{key}' for `r1eval {' '.join(verb)}`; its keys: {known}")
        if isinstance(value, bool):
            both = next((a for a in actions if isinstance(a, argparse.BooleanOptionalAction)), None)
            if both is not None:  # --x / --no-x (options generated from dataclass fields)
                argv.append([o for o in both.option_strings if o.startswith("--no-") != value][-1])
                continue
            switch = next((a for a in actions if a.nargs == 0 and a.const is value), None)
            if switch is None:
                raise UsageError(f"recipe {where}.{key}: `r1eval {' '.join(verb)}` has no switch for {value}")
            argv.append(switch.option_strings[-1])
            continue
        if value is None:
            continue
        action = next((a for a in actions if a.nargs != 0), None)
        if action is None:
            raise UsageError(f"recipe {where}.{key}: a switch takes true or false, not {value!r}")
        values = value if isinstance(value, list) and isinstance(action, argparse._AppendAction) else [value]
        for v in values:
            text = json.dumps(v) if isinstance(v, dict | list) else str(v)
            argv += [action.option_strings[-1], text]
    return argv


def _finished_run(run_dir: Path) -> bool:
    """An evaluation (or teacher) run whose summary says every requested sample is there."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return summary.get("complete", True) is True and not summary.get("stale")




def plan(recipe: dict[str, Any], cli: argparse.ArgumentParser) -> list[Stage]:
    """Every command of the loop, in order: per arm its training stages, then the evaluations, then the report.
    `cli` is the `r1eval` argument parser (`r1eval.cli.build_parser()`), which checks each stage's keys."""
    out = Path(recipe["output"])
    problems = str(recipe["problems"])
    student = (recipe.get("student") or {}).get("model")
    arms: dict[str, dict[str, Any]] = recipe["arms"]
    stages: list[Stage] = []
    final_model: dict[str, Path] = {}

    def arm_order() -> list[str]:
        done: list[str] = []
        while len(done) < len(arms):
            for name, arm in arms.items():
                if name not in done and (arm.get("from") is None or arm["from"] in done):
                    done.append(name)
        return done

    for name in arm_order():
        arm = arms[name]
        where = f"arms.{name}"
        arm_dir = out / "arms" / name.replace("+", "_plus_")
        start = str(final_model[arm["from"]]) if arm.get("from") else arm.get("model", student)
        model = start
        if "train" in arm:
            traces = arm.get("traces")
            if traces is None:
                traces = arm_dir / "teacher"
                # teacher traces are an ordinary run of the teacher (what `distill generate` runs), so the
                # teacher can be any backend `r1eval run` has: a local checkpoint, vLLM or a served model
                argv = ["run", "--bench", problems, "--output", str(traces),
                        *stage_flags(cli, ("run",), recipe["teacher"], "teacher"),
                        *stage_flags(cli, ("run",), arm.get("generate"), f"{where}.generate")]
                stages.append(Stage(f"{name}/generate", argv, _finished_run(traces)))
            filtered = arm_dir / "filtered"
            argv = ["distill", "filter", "--input", str(traces), "--output", str(filtered),
                    *stage_flags(cli, ("distill", "filter"), arm.get("filter"), f"{where}.filter")]
            stages.append(Stage(f"{name}/filter", argv, (filtered / "filter_report.json").is_file()))
            sft = arm_dir / "sft"
            argv = ["distill", "train", "--data", str(filtered), "--output", str(sft),
                    *(["--student", str(model)] if model else []),
                    *stage_flags(cli, ("distill", "train"), arm.get("train"), f"{where}.train")]
            stages.append(Stage(f"{name}/train", argv, (sft / "result.json").is_file()))
            model = str(sft / "model")
        if "grpo" in arm:
            grpo = arm_dir / "grpo"
            argv = ["grpo", "--data", problems, "--output", str(grpo), *(["--model", str(model)] if model else []),
                    *stage_flags(cli, ("grpo",), arm.get("grpo"), f"{where}.grpo")]
            stages.append(Stage(f"{name}/grpo", argv, (grpo / "result.json").is_file()))
            model = str(grpo / "final")
        final_model[name] = Path(model)

    evaluation = dict(recipe.get("eval") or {})
    benches = evaluation.pop("benches", None) or [problems]
    evaluation.pop("teacher", None)
    labelled: list[tuple[Path, str]] = []
    models: list[tuple[str, str | None]] = [("base", student)]
    models += [(arms[a].get("label", DEFAULT_LABELS.get(a, a)), str(final_model[a])) for a in arms]
    for bench in benches:
        bench_name = Path(str(bench)).stem if str(bench).endswith(".jsonl") else str(bench)
        for label, model in models:
            run_dir = out / "evals" / f"{label.replace('+', '_plus_')}__{bench_name.replace(':', '_')}"
            argv = ["run", "--bench", str(bench), "--output", str(run_dir), *(["--model", model] if model else []),
                    *stage_flags(cli, ("run",), evaluation, "eval")]
            stages.append(Stage(f"eval/{label}/{bench_name}", argv, _finished_run(run_dir)))
            labelled.append((run_dir, label))
    report = dict(recipe.get("report") or {})
    report_out = Path(report.pop("out", out / "report"))
    argv = ["report", *(str(d) for d, _ in labelled), "--out", str(report_out)]
    for run_dir, label in labelled:
        argv += ["--label", f"{run_dir}={label}"]
    report.setdefault("title", f"{recipe.get('name', 'r1eval loop')}: distillation vs RL")
    argv += stage_flags(cli, ("report",), report, "report")
    stages.append(Stage("report", argv, False))  # cheap; always rewritten from the runs
    return stages


def check_stages(stages: list[Stage], cli: argparse.ArgumentParser, path: Path) -> None:
    """Every stage's command line parsed by its real parser, its benches and presets looked up, before anything
    runs: a bad value (`max_steps: lots`), an unknown preset or a missing problems file is one line naming the
    stage, not a failure hours into the loop."""
    from r1eval.benches import get_bench
    from r1eval.cli_args import flag_words
    from r1eval.recipes import recipe_path

    for stage in stages:
        args = None
        try:
            args = cli.parse_args(stage.argv)
            if stage.argv[0] == "run" and not str(args.bench).startswith("lm-eval:"):
                get_bench(str(args.bench))
            if stage.argv[0] == "grpo" and str(args.data).endswith(".jsonl") and not Path(args.data).is_file():
                raise UsageError(f"problems file not found: {args.data}")
            preset = getattr(args, "preset", None)
            if preset and not Path(preset).is_file():
                recipe_path({"grpo": "grpo", "distill": "sft"}[stage.argv[0]], preset)
        except UsageError as exc:
            raise UsageError(f"recipe {path}: stage {stage.name}: {flag_words(cli, args, exc)}") from None


def run_loop(recipe_path: Path, cli: argparse.ArgumentParser, r1eval: Callable[[list[str]], int], *,
             dry_run: bool = False) -> int:
    """Run (or print, with `dry_run`) every stage of the recipe through `r1eval(argv)` (the CLI's `main`); stop at
    the first failing stage."""
    recipe = read_recipe(recipe_path)
    stages = plan(recipe, cli)
    check_stages(stages, cli, recipe_path)
    out = Path(recipe["output"])
    if dry_run:
        for stage in stages:
            state = "done, skipped" if stage.finished else "to run"
            print(f"# {stage.name} ({state})\n{stage.command_line()}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "loop.jsonl"
    for i, stage in enumerate(stages, 1):
        if stage.finished:
            print(f"[loop {i}/{len(stages)}] {stage.name}: done already, skipped", file=sys.stderr, flush=True)
            continue
        print(f"[loop {i}/{len(stages)}] {stage.name}: {stage.command_line()}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        code = r1eval(stage.argv)
        seconds = round(time.perf_counter() - t0, 1)
        with log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps({"stage": stage.name, "argv": stage.argv, "exit": code, "seconds": seconds,
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        if code != 0:
            print(f"r1eval loop: stage {stage.name} failed (exit {code}); fix it and rerun `r1eval loop "
                  f"{recipe_path}`: finished stages are skipped and this one resumes", file=sys.stderr)
            return code
    return 0
