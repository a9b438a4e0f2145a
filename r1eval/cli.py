"""The `r1eval` command line: one entry point, one subcommand per verb."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from r1eval.audit import add_audit_parser, cmd_audit
from r1eval.cli_args import (
    add_prompt_options,
    flag_words,
    positive_int,
)
from r1eval.errors import UsageError
from r1eval.judge.cli import add_judge_flags, add_judge_parser, cmd_judge, judge_setup
from r1eval.records import SamplingParams
from r1eval.shard import add_merge_parser, cmd_merge


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line and exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _add_code_bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--language", help="codeforces, livecodebench: the language stdin/stdout answers are asked in, "
                   "python (default) or cpp; when grading, each answer's fenced block tag decides (```cpp, ```python)")
    p.add_argument("--lcb-version", help="LiveCodeBench release on the hub: release_vN, vN or vA_vB (default release_v5)")
    p.add_argument("--since", help="LiveCodeBench: only problems with contest_date on/after this day (YYYY-MM-DD)")
    p.add_argument("--until", help="LiveCodeBench: only problems with contest_date on/before this day (YYYY-MM-DD)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit) for --hub, or the snapshot to read in a "
                   "hub cache directory given as --data")
    p.add_argument("--lm-eval-include", type=Path, metavar="DIR",
                   help="directory of your lm-eval YAML tasks, for --bench lm-eval:TASK")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="code benches: run model-written programs even where no sandbox isolation is available "
                        "(not root and no user namespaces); they then run as you, unconfined")


def _allow_unsafe_code(args: argparse.Namespace) -> None:
    if getattr(args, "unsafe_no_sandbox", False):
        from r1eval.grading import sandbox

        sandbox.allow_unsafe_no_sandbox()


def _bench_extra(args: argparse.Namespace) -> dict:
    """Bench-specific options for LoadOptions.extra (only those given)."""
    return {k: getattr(args, k) for k in ("lcb_version", "since", "until", "revision", "language") if getattr(args, k, None)}


def _check_data(path: Path | None) -> None:
    if path is not None and not path.exists():
        raise UsageError(f"--data not found: {path}")


def _add_run(sub: argparse._SubParsersAction) -> None:
    from r1eval.backends import backend_names

    p = sub.add_parser("run", help="evaluate a model on a benchmark with the R1 protocol")
    p.add_argument("--model", help="HF model directory, .gguf file or hub id (default: embedded SmolLM2-135M)")
    p.add_argument("--tokenizer", help="HF tokenizer to use instead of the model's own")
    p.add_argument("--bench", default="aime24", help="bench name (see `r1eval list`) or a problem/answer .jsonl")
    p.add_argument("--data", type=Path, help="local data for the bench instead of the bundled/hub copy: a file "
                   "(JSONL, CSV, parquet), a save_to_disk directory, parquet files or a hub cache snapshot")
    p.add_argument("--hub", action="store_true", help="load the bench from the Hugging Face hub")
    p.add_argument("-n", type=positive_int, help="samples per problem (default: the bench's, 64 for AIME)")
    p.add_argument("--temperature", type=float, default=SamplingParams.temperature,
                   help=f"sampling temperature (default {SamplingParams.temperature})")
    p.add_argument("--top-p", type=float, default=SamplingParams.top_p,
                   help=f"nucleus sampling (default {SamplingParams.top_p})")
    _add_sampling_filters(p)
    p.add_argument("--max-tokens", type=positive_int, help="max new tokens (default 32768)")
    p.add_argument("--seed", type=int, default=0, help="base seed; each sample's seed derives from it")
    p.add_argument("--limit", type=positive_int, help="only the first N problems")
    p.add_argument("--force-think", action="store_true", help="open every reply with '<think>\\n'")
    add_prompt_options(p)
    p.add_argument("--output", type=Path, help="run directory (default runs/<bench>__<model>__<hash>)")
    p.add_argument("--wait-lock", action="store_true",
                   help="if another run is writing the same directory, wait for it instead of exiting")
    p.add_argument("--shard", metavar="I/N", help="evaluate shard I (0..N-1) of N of the (problem, sample) pairs, "
                   "or 'slurm' (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT); `r1eval merge` joins the shards")
    p.add_argument("--backend", default="auto", choices=backend_names(),
                   help="auto (vllm with a GPU, else transformers) | transformers | vllm | openai (a server)")
    p.add_argument("--batch-size", type=positive_int, help="rows per generate call (default: fit memory)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--no-progress", action="store_true", help="no progress bar (transformers' loading bars included)")
    p.add_argument("--threads", type=positive_int,
                   help="CPU threads for local generation (default: see docs/faults.md; on a shared machine "
                        "fewer threads than cores is often faster)")
    _add_code_bench_options(p)
    _add_backend_flags(p)
    add_judge_flags(p, run=True)


def _add_sampling_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("other sampling fields (R1 protocol: all off; never taken from the model's "
                             "generation_config.json)")
    g.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (default 0 = off)")
    g.add_argument("--min-p", type=float, default=0.0, help="drop tokens below min-p x the top probability "
                                                            "(default 0 = off)")
    g.add_argument("--repetition-penalty", type=float, default=1.0,
                   help="vLLM/HF repetition penalty on prompt and reply tokens (default 1 = off)")
    g.add_argument("--presence-penalty", type=float, default=0.0, help="OpenAI presence penalty (default 0 = off)")
    g.add_argument("--frequency-penalty", type=float, default=0.0, help="OpenAI frequency penalty (default 0 = off)")


def _add_backend_flags(p: argparse.ArgumentParser) -> None:
    from r1eval.backends import REGISTRY

    for backend in REGISTRY.values():
        backend.add_cli_options(p)


def _backend_options(args: argparse.Namespace) -> dict:
    """The backend flags the user set, by name (unset ones are left to the backend's defaults)."""
    from r1eval.backends import REGISTRY

    names = {"batch_size", "dtype"}.union(*(backend.option_names for backend in REGISTRY.values()))
    return {k: getattr(args, k) for k in sorted(names) if getattr(args, k, None) is not None}


def cmd_run(args: argparse.Namespace) -> int:
    from r1eval.backends import backend_class
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.models import resolve_model, served_model
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, format_summary, run_eval
    from r1eval.shard import parse_shard

    bench = get_bench(args.bench, args.lm_eval_include)
    bench, judge = judge_setup(args, bench)
    _check_data(args.data)
    _allow_unsafe_code(args)
    params = SamplingParams(n=args.n or bench.default_n, temperature=args.temperature, top_p=args.top_p,
                            top_k=args.top_k, min_p=args.min_p, repetition_penalty=args.repetition_penalty,
                            presence_penalty=args.presence_penalty, frequency_penalty=args.frequency_penalty,
                            max_tokens=args.max_tokens or bench.default_max_tokens, seed=args.seed,
                            force_think=args.force_think, system_prompt=args.system_prompt,
                            chat_template_kwargs=args.chat_template_kwargs)
    params.validate()
    if args.no_progress:
        from r1eval.progress import silence_library_progress

        silence_library_progress()
    if args.max_retries is not None and args.max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0 (got {args.max_retries})")
    if args.backend != "auto" and backend_class(args.backend).is_server:
        model = served_model(args.model, args.base_url)
    else:
        model = resolve_model(args.model, args.tokenizer)
        from r1eval.threads import apply_threads  # imports torch: after the one-line checks

        args.threads = apply_threads(args.threads)
    spec = RunSpec(bench=bench, model=model, params=params, backend=args.backend,
                   backend_options={**_backend_options(args), **({"threads": args.threads} if args.threads else {})},
                   load=LoadOptions(data=args.data, hub=args.hub, extra=_bench_extra(args)), limit=args.limit,
                   output=args.output, progress=not args.no_progress, wait_lock=args.wait_lock, judge=judge,
                   shard=parse_shard(args.shard) if args.shard else None)
    try:
        with sigterm_as_interrupt():
            summary, run_dir = run_eval(spec)
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except OSError as exc:
        from r1eval.errors import os_error_line

        raise UsageError(os_error_line(exc) + "; every finished sample is kept and the same command resumes") \
            from None
    print(format_summary(summary, run_dir))
    return 0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so a terminated run cleans up
    exactly like Ctrl-C: requests cancelled, finished samples kept, one line, exit 143."""
    import signal
    import threading

    from r1eval.errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """The one line for Ctrl-C (exit 130) or SIGTERM (exit 143) during a run."""
    from r1eval.errors import Terminated

    what, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
    print(f"\n{what}: every finished sample is kept; rerun the same command to resume", file=sys.stderr)
    return code


def _add_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade completions produced elsewhere")
    p.add_argument("--input", type=Path, help="JSONL rows with completion + answer or problem_id")
    p.add_argument("--run", type=Path, help="regrade this run directory in place with the current grader "
                   "(a run graded by an older grader version resumes only after this)")
    p.add_argument("--bench", default=None, help="bench the problem_ids refer to (default: generic math)")
    p.add_argument("--data", type=Path, help="local data for the bench (file, save_to_disk or parquet directory, "
                   "hub cache snapshot)")
    p.add_argument("--hub", action="store_true", help="load the bench's problems from the Hugging Face hub")
    p.add_argument("--output", type=Path, help="write graded rows here (JSONL)")
    _add_code_bench_options(p)


def cmd_grade(args: argparse.Namespace) -> int:
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.benches.math import MathBench
    from r1eval.runner import grade_file

    if args.run is not None:
        from r1eval.regrade import regrade_run

        summary = regrade_run(args.run)
        print(f"regraded {summary['num_samples']} samples of {args.run} with {summary['grader']['name']} "
              f"v{summary['grader']['version']}: pass@1 {summary['pass@1']:.4f}; rerun its command to resume")
        return 0
    if args.input is None:
        raise UsageError("grade needs --input FILE (completions to grade) or --run DIR (a run to regrade)")
    bench = get_bench(args.bench, args.lm_eval_include) if args.bench else MathBench("math", "generic math answers")
    _check_data(args.data)
    _allow_unsafe_code(args)
    if args.output is not None:  # refuse an unwritable --output before grading, not after
        check_output_file(args.output)
    correct, total = grade_file(bench, args.input, LoadOptions(data=args.data, hub=args.hub, extra=_bench_extra(args)),
                                args.output)
    print(f"accuracy {correct / total:.4f} ({correct}/{total})"
          + (f"; graded rows in {args.output}" if args.output else ""))
    return 0


def check_output_file(path: Path) -> None:
    """UsageError naming `path` when a file can't be written there (a directory, or a parent that is a file)."""
    if path.is_dir():
        raise UsageError(f"--output {path} is a directory; pass a file path, e.g. {path / 'graded.jsonl'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--output {path}: {parent} is a file, not a directory; pass another path")
            break


def _add_elo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("elo", help="maximum-likelihood Codeforces rating from per-problem solve rates")
    p.add_argument("--input", type=Path, required=True,
                   help='JSONL rows {"rating": 1600, "solved": 0.5} or {"rating": 1600, "passes": 3, "n": 8}')
    p.add_argument("--distribution", type=Path,
                   help="contestant ratings (JSON list, JSONL rating[/count] rows, or one per line): adds the percentile")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--bootstrap", type=positive_int, default=2000, help="bootstrap resamples (default 2000)")


def cmd_elo(args: argparse.Namespace) -> int:
    from r1eval.elo import estimate_rating, read_distribution, read_results

    results = read_results(args.input)
    distribution = read_distribution(args.distribution) if args.distribution else None
    print(json.dumps(estimate_rating(results, distribution, seed=args.seed, bootstrap_iters=args.bootstrap),
                     indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from r1eval.benches import REGISTRY

    rows = [(name, b.kind, str(b.default_n), b.description) for name, b in REGISTRY.items()]
    rows.append(("lm-eval:TASK", "lm-eval", "4", "an lm-eval generative task (--lm-eval-include DIR for your YAML tasks)"))
    width, kind_width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"{'bench':<{width}}  {'kind':<{kind_width}} {'n':>3}  description")
    for name, kind, n, description in rows:
        print(f"{name:<{width}}  {kind:<{kind_width}} {n:>3}  {description}")
    return 0


def _add_grpo(sub: argparse._SubParsersAction) -> None:
    from r1eval.rl.cli import add_grpo_parser

    add_grpo_parser(sub)


def cmd_grpo(args: argparse.Namespace) -> int:
    from r1eval.rl.cli import cmd_grpo as run_grpo

    return run_grpo(args)


def _add_gate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="paired test of a candidate run against a baseline run (exit 0 accept, 1 reject)")
    p.add_argument("--baseline", type=Path, required=True, help="baseline run directory")
    p.add_argument("--candidate", type=Path, required=True, help="candidate run directory (same bench)")
    p.add_argument("--metric", default="pass@1", help="pass@1 (default), pass@k or cons@n")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--mode", default="non-inferior", choices=["non-inferior", "better"],
                   help="non-inferior: accept only when the test shows the candidate is less than --margin worse "
                        "(H0: candidate - baseline <= -margin rejected at --alpha); better: accept only when it shows "
                        "the candidate is better (H0: candidate - baseline <= 0 rejected at --alpha). Paired sign-flip "
                        "permutation test over shared problems: m problems cannot give p below 1/2^m, so fewer than "
                        "5 problems at alpha 0.05 is refused (exit 2)")
    p.add_argument("--margin", type=float, help="non-inferiority margin in metric units (default 0.05; 0 for better)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap/permutation draws")
    p.add_argument("--allow-partial", action="store_true",
                   help="compare runs that are not complete (killed, still running, extended and unfinished) on the "
                        "problems complete in both; by default such a run is refused (exit 2)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def cmd_gate(args: argparse.Namespace) -> int:
    """Print the comparison; exit 0 accept, 1 reject (bad input raises UsageError -> 2)."""
    from r1eval.gate import compare_runs

    result = compare_runs(args.baseline, args.candidate, metric=args.metric, alpha=args.alpha, mode=args.mode,
                          margin=args.margin, seed=args.seed, allow_partial=args.allow_partial)
    if result.unattainable:
        raise UsageError(result.unattainable)
    print(json.dumps(result.to_dict()) if args.json else result.format())
    sys.stdout.flush()
    return 0 if result.accept else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="r1eval", description=__doc__)
    parser.add_argument("--version", action="version", version=f"r1eval {__import__('r1eval').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_grade(sub)
    _add_elo(sub)
    sub.add_parser("list", help="list the registered benchmarks")
    _add_grpo(sub)
    _add_gate(sub)
    _add_distill(sub)
    _add_report(sub)
    _add_export(sub)
    add_audit_parser(sub)
    add_merge_parser(sub)
    add_judge_parser(sub)
    _add_loop(sub)
    return parser


def _add_loop(sub: argparse._SubParsersAction) -> None:
    from r1eval import loop

    p = sub.add_parser("loop", help="the R1 loop from one YAML recipe: teacher -> distil/GRPO arms -> eval -> report",
                       description=loop.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", type=Path, help="the recipe (YAML)")
    p.add_argument("--dry-run", action="store_true", help="print every command (and which are done) and run nothing")


def cmd_loop(args: argparse.Namespace) -> int:
    from r1eval.loop import run_loop

    return run_loop(args.recipe, build_parser(), main, dry_run=args.dry_run)


def _add_distill(sub: argparse._SubParsersAction) -> None:
    from r1eval.distill.cli import add_distill_parser

    add_distill_parser(sub)


def cmd_distill(args: argparse.Namespace) -> int:
    from r1eval.distill.cli import cmd_distill as run_distill

    return run_distill(args)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="report.md/.html and plots comparing run directories")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with summary.json and samples.jsonl) and "
                   "training directories of `r1eval grpo` / `r1eval distill train` (steps.jsonl, result.json)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--label", action="append", default=[], metavar="DIR=NAME",
                   help="label a run (base, distilled, rl, ...); repeatable; default: config.json 'label'")
    p.add_argument("--title", default="r1eval report", help="report title")
    p.add_argument("--allow-partial", action="store_true",
                   help="paired tests between runs that are not complete use the problems complete in both "
                        "(by default a partial run is refused, exit 2)")
    p.add_argument("--explorer-copy", action=argparse.BooleanOptionalAction, default=None,
                   help="copy the completions the explorer shows into the report (default: when the runs' "
                        "samples.jsonl total at most 64 MB; larger runs keep them in their own explorer/ folder)")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run directory as parquet (one row per sample) or lm-eval's results layout")
    p.add_argument("run", type=Path, help="run directory (config.json, samples.jsonl, summary.json)")
    p.add_argument("--format", required=True, choices=["parquet", "lm-eval"],
                   help="parquet: one row per sample with the run's settings as columns; lm-eval: results_*.json "
                   "and samples_*.jsonl as lm-eval writes them")
    p.add_argument("--out", type=Path, help="output file (parquet) or directory (lm-eval); default inside the run")


def cmd_export(args: argparse.Namespace) -> int:
    from r1eval.export import export_lm_eval, export_parquet

    if args.format == "parquet":
        out = export_parquet(args.run, args.out)
    else:
        out = export_lm_eval(args.run, args.out)
    print(f"wrote {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from r1eval.report import parse_labels, write_report

    out = write_report(args.runs, args.out, labels=parse_labels(args.label), title=args.title,
                       allow_partial=args.allow_partial, explorer_copy=args.explorer_copy)
    print(f"wrote {out / 'report.md'}, {out / 'report.html'} and plots in {out}")
    return 0


COMMANDS = {"run": cmd_run, "grade": cmd_grade, "list": cmd_list, "elo": cmd_elo, "grpo": cmd_grpo,
            "gate": cmd_gate, "distill": cmd_distill, "report": cmd_report, "export": cmd_export,
            "audit": cmd_audit, "judge": cmd_judge, "loop": cmd_loop, "merge": cmd_merge}


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line on stderr and exit 2."""
    from r1eval.errors import Terminated, os_error_line

    parser, args = build_parser(), None
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"r1eval: error: {flag_words(parser, args, exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"r1eval: error: {flag_words(parser, args, UsageError(os_error_line(exc)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"\n{'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
