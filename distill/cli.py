"""`r1eval distill generate | filter | train`: the distillation verbs of the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from r1eval.cli_args import add_prompt_options, positive_int
from r1eval.distill.filter import FilterConfig
from r1eval.distill.options import DEFAULT_SFT_PRESET, FilterInputs, SFTInputs
from r1eval.distill.train import DistillPreset
from r1eval.judge.cli import add_judge_flags, judge_spec
from r1eval.judge.graders import judge_undecided_traces
from r1eval.recipes import accelerate_help, add_option_flags, add_recipe_flags, flag_values, recipes_help
from r1eval.records import SamplingParams
from r1eval.training import is_main_process, launched_world_size
from r1eval.training_options import GateOptions, LaunchOptions


def add_distill_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval distill` and its three verbs."""
    p = sub.add_parser("distill", help="distillation: teacher traces, rejection sampling, SFT")
    verbs = p.add_subparsers(dest="distill_command", required=True, parser_class=type(p))

    g = verbs.add_parser("generate", help="sample teacher traces through the harness (a run directory)")
    g.add_argument("--teacher", help="teacher model: HF dir, .gguf or hub id (default: embedded SmolLM2-135M)")
    g.add_argument("--data", required=True, help="a bench name (see `r1eval list`) or a problem/answer .jsonl")
    g.add_argument("-n", type=positive_int, default=4, help="traces per problem (default 4)")
    g.add_argument("--backend", default="auto", help="generation backend (default auto)")
    g.add_argument("--temperature", type=float, default=SamplingParams.temperature,
                   help=f"sampling temperature (default {SamplingParams.temperature})")
    g.add_argument("--top-p", type=float, default=SamplingParams.top_p,
                   help=f"nucleus sampling (default {SamplingParams.top_p})")
    g.add_argument("--max-tokens", type=positive_int, default=32768, help="max new tokens (default 32768)")
    g.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    g.add_argument("--limit", type=positive_int, help="only the first N problems")
    g.add_argument("--force-think", action="store_true", help="open every reply with '<think>\\n'")
    add_prompt_options(g)
    g.add_argument("--batch-size", type=positive_int, help="rows per generate call (default: fit memory)")
    g.add_argument("--output", type=Path, required=True, help="run directory to write (resumable)")
    g.add_argument("--no-progress", action="store_true")

    f = verbs.add_parser("filter", help="rejection sampling: keep correct, readable traces")
    f.add_argument("--config", type=Path, metavar="YAML",
                   help="thresholds file (YAML or JSON): option names (as below, with underscores) -> values; flags "
                        "override it")
    f.add_argument("--dry-run", action="store_true", help="print the resolved options as JSON, then exit")
    add_option_flags(f, FilterInputs, title="input and output")
    add_option_flags(f, FilterConfig, title="thresholds")
    add_judge_flags(f)

    t = verbs.add_parser("train", help="SFT a student on filtered traces (TRL SFTTrainer)",
                         epilog=recipes_help("sft") + "\n" + accelerate_help(),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_flags(t, "sft", DEFAULT_SFT_PRESET)
    add_option_flags(t, SFTInputs, title="what to train")
    add_option_flags(t, DistillPreset, title="recipe (SFT hyper-parameters; defaults shown are R1 distillation's)")
    add_option_flags(t, LaunchOptions, title="launch")
    add_option_flags(t, GateOptions, title="gate (harness evaluations during training)")


def cmd_distill(args: argparse.Namespace) -> int:
    """Dispatch `r1eval distill <verb>`."""
    return {"generate": _generate, "filter": _filter, "train": _train}[args.distill_command](args)


def _generate(args: argparse.Namespace) -> int:
    from r1eval.distill.generate import generate_traces

    try:
        summary, run_dir = generate_traces(args.teacher, args.data, n=args.n, backend=args.backend,
                                           temperature=args.temperature, top_p=args.top_p,
                                           max_tokens=args.max_tokens, seed=args.seed, limit=args.limit,
                                           force_think=args.force_think, system_prompt=args.system_prompt,
                                           chat_template_kwargs=args.chat_template_kwargs, batch_size=args.batch_size,
                                           output=args.output, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("\ninterrupted: every finished trace is kept; rerun the same command to resume", file=sys.stderr)
        return 130
    from r1eval.runner import format_summary

    print(format_summary(summary, run_dir))
    print(f"next: r1eval distill filter --input {run_dir} --output DIR")
    return 0


def _filter(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from r1eval.distill.filter import filter_traces, load_traces, write_filter_output
    from r1eval.distill.options import FILTER_OPTIONS, filter_options, require

    cfg, paths = filter_options(args.config, flag_values(args, FILTER_OPTIONS))
    if args.dry_run:
        from r1eval.recipes import options_dict

        print(json.dumps({"config": options_dict(cfg, paths)}, indent=2))
        return 0
    require({"input": paths.input, "output": paths.output}, "r1eval distill filter")
    judge = judge_spec(args, "answer-match")
    traces, bench = load_traces(paths.input)
    if bench is not None and bench.needs_sandbox:  # replies are programs: code blocks are the answer
        cfg = replace(cfg, allow_code=True)
    judged: dict = {}
    decide = (lambda ts: judged.update(judge_undecided_traces(ts, judge, paths.output))) if judge else None
    kept, rejected = filter_traces(traces, cfg, bench, decide)
    report = write_filter_output(paths.output, kept, rejected, cfg, judged)
    reasons = ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items()) or "none"
    print(f"kept {report['kept']}/{report['total']} traces ({report['problems_with_kept']}/{report['problems']} "
          f"problems); rejected by reason: {reasons}")
    if report.get("advice"):
        print(f"note: {report['advice']}")
    print(f"wrote {paths.output}/kept.jsonl, rejected.jsonl, dataset/, train.jsonl, filter_report.md")
    return 0


def _train(args: argparse.Namespace) -> int:
    from r1eval.distill.options import SFT_OPTIONS, require, sft_options
    from r1eval.distill.train import sft_dry_run, train_student
    from r1eval.recipes import command_line, options_dict
    from r1eval.training_options import deepspeed_notes

    recipe, inputs, launch, gate, name = sft_options(args.config, flag_values(args, SFT_OPTIONS), preset=args.preset)
    if args.dry_run:
        processes, machines, acc = launch.topology(launched_world_size())
        plan = sft_dry_run(recipe, {}, inputs.lora, processes, inputs.output, preset_name=name)
        plan.update(num_machines=machines, processes_per_machine=processes // machines,
                    launch=launch.launch_lines(processes, machines, command_line("distill train", args, SFT_OPTIONS)),
                    deepspeed=deepspeed_notes(acc, bf16=recipe.bf16, lora_reset=False, gate=bool(gate.gate_bench)),
                    config=options_dict(recipe, inputs, launch, gate))
        if is_main_process():
            print(json.dumps(plan, indent=2, default=str))
        return 0
    require({"data": inputs.data, "output": inputs.output}, "r1eval distill train (or --dry-run to only plan)")
    final = train_student(inputs.student, inputs.data, inputs.output, preset=recipe, preset_name=name,
                          lora=inputs.lora, gate=gate.settings(), max_minutes=launch.max_minutes,
                          num_processes=launch.num_processes)
    if is_main_process():
        print(f"trained model in {final}; evaluate it with `r1eval run --model {final} --bench ...`")
    return 0
