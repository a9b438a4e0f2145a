"""`r1eval distill generate | filter | train`: the distillation verbs of the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from r1eval.cli_args import (
    add_gate_flags,
    add_launch_flags,
    add_prompt_options,
    positive_int,
    require_data_and_output,
)
from r1eval.errors import UsageError
from r1eval.training import is_main_process


def add_distill_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval distill` and its three verbs."""
    p = sub.add_parser("distill", help="distillation: teacher traces, rejection sampling, SFT")
    verbs = p.add_subparsers(dest="distill_command", required=True, parser_class=type(p))

    g = verbs.add_parser("generate", help="sample teacher traces through the harness (a run directory)")
    g.add_argument("--teacher", help="teacher model: HF dir, .gguf or hub id (default: embedded SmolLM2-135M)")
    g.add_argument("--data", required=True, help="a bench name (see `r1eval list`) or a problem/answer .jsonl")
    g.add_argument("-n", type=positive_int, default=4, help="traces per problem (default 4)")
    g.add_argument("--backend", default="auto", help="generation backend (default auto)")
    g.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (default 0.6)")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    g.add_argument("--max-tokens", type=positive_int, default=32768, help="max new tokens (default 32768)")
    g.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    g.add_argument("--limit", type=positive_int, help="only the first N problems")
    g.add_argument("--force-think", action="store_true", help="open every reply with '<think>\\n'")
    add_prompt_options(g)
    g.add_argument("--batch-size", type=positive_int, help="rows per generate call (default: fit memory)")
    g.add_argument("--output", type=Path, required=True, help="run directory to write (resumable)")
    g.add_argument("--no-progress", action="store_true")

    f = verbs.add_parser("filter", help="rejection sampling: keep correct, readable traces")
    f.add_argument("--input", type=Path, required=True,
                   help="a run directory, its samples.jsonl, or JSONL rows with problem, answer, completion")
    f.add_argument("--output", type=Path, required=True, help="directory for kept/rejected/dataset/report")
    f.add_argument("--config", type=Path, help="JSON object of FilterConfig thresholds to override")
    f.add_argument("--max-per-prompt", type=positive_int, help="m: kept traces per problem (default 4)")
    f.add_argument("--language", help="target language of the reasoning (default en)")

    t = verbs.add_parser("train", help="SFT a student on filtered traces (TRL SFTTrainer)")
    t.add_argument("--student", help="student model: HF dir, .gguf or hub id (default: embedded SmolLM2-135M)")
    t.add_argument("--data", type=Path,
                   help="a `distill filter` output dir or a messages JSONL (required unless --dry-run)")
    t.add_argument("--preset", default="tiny-cpu", help="training preset: r1-distill | tiny-cpu (default)")
    t.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead of all weights")
    t.add_argument("--output", type=Path, help="output directory (final model in model/); rerunning the same "
                                               "command with it continues the run (required unless --dry-run)")
    add_launch_flags(t)
    t.add_argument("--epochs", type=float, help="override the preset's num_train_epochs (larger extends a run)")
    t.add_argument("--max-steps", type=int, help="override the preset's max_steps (larger extends a run)")
    t.add_argument("--learning-rate", type=float, help="override the preset's learning rate")
    t.add_argument("--global-batch-size", type=positive_int, help="override sequences per optimizer step")
    t.add_argument("--micro-batch-size", type=positive_int, help="override the most sequences per process per pass")
    add_gate_flags(t, "the student")


def cmd_distill(args: argparse.Namespace) -> int:
    """Dispatch `r1eval distill <verb>`."""
    return {"generate": _generate, "filter": _filter, "train": _train}[args.distill_command](args)


def _generate(args: argparse.Namespace) -> int:
    from distill.generate import generate_traces

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
    from dataclasses import fields, replace

    from distill.filter import FilterConfig, filter_traces, load_traces, write_filter_output

    cfg = FilterConfig()
    if args.config:
        if not args.config.is_file():
            raise UsageError(f"--config file not found: {args.config}")
        try:
            overrides = json.loads(args.config.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"--config {args.config}: not valid JSON ({exc.msg})") from None
        known = {f.name for f in fields(FilterConfig)}
        unknown = sorted(set(overrides) - known) if isinstance(overrides, dict) else ["(not an object)"]
        if unknown:
            raise UsageError(f"--config: unknown FilterConfig fields {unknown}; known: {', '.join(sorted(known))}")
        cfg = replace(cfg, **overrides)
    if args.max_per_prompt:
        cfg = replace(cfg, max_per_prompt=args.max_per_prompt)
    if args.language:
        cfg = replace(cfg, language=args.language)
    cfg.validate()
    traces, bench = load_traces(args.input)
    if bench is not None and bench.needs_sandbox:  # replies are programs: code blocks are the answer
        cfg = replace(cfg, allow_code=True)
    kept, rejected = filter_traces(traces, cfg, bench)
    report = write_filter_output(args.output, kept, rejected, cfg)
    reasons = ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items()) or "none"
    print(f"kept {report['kept']}/{report['total']} traces ({report['problems_with_kept']}/{report['problems']} "
          f"problems); rejected by reason: {reasons}")
    print(f"wrote {args.output}/kept.jsonl, rejected.jsonl, dataset/, train.jsonl, filter_report.md")
    return 0


def _train(args: argparse.Namespace) -> int:
    from distill.train import sft_dry_run, train_student

    overrides = {k: v for k, v in {"num_train_epochs": args.epochs, "max_steps": args.max_steps,
                                   "learning_rate": args.learning_rate, "global_batch_size": args.global_batch_size,
                                   "micro_batch_size": args.micro_batch_size}.items() if v is not None}
    if args.dry_run:
        plan = sft_dry_run(args.preset, overrides, args.lora, args.num_processes, args.output)
        if is_main_process():
            print(json.dumps(plan, indent=2, default=str))
        return 0
    require_data_and_output(args, "r1eval distill train")
    gate = None
    if args.gate_bench:
        from r1eval.benches import get_bench
        from r1eval.training import GateSettings

        for name in args.gate_bench:
            get_bench(name)  # a bad name fails now, not after the first training steps
        gate = GateSettings(benches=args.gate_bench, every=args.gate_every, n=args.gate_n, limit=args.gate_limit,
                            max_tokens=args.gate_max_tokens, stop_on_regression=args.stop_on_regression)
    final = train_student(args.student, args.data, args.output, preset=args.preset, lora=args.lora,
                          overrides=overrides, gate=gate, max_minutes=args.max_minutes,
                          num_processes=args.num_processes)
    if is_main_process():
        print(f"trained model in {final}; evaluate it with `r1eval run --model {final} --bench ...`")
    return 0
