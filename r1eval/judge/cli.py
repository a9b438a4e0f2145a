"""The judge's command-line flags (`run`, `audit`, `distill filter`) and the `r1eval judge calibrate` verb."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.judge.client import JUDGE_BACKENDS, JudgeSpec
from r1eval.judge.templates import load_template


def add_judge_flags(p: argparse.ArgumentParser, run: bool = False) -> None:
    """--judge MODEL and how to reach and sample it; with `run`, also --grader and --judge-decides-negatives."""
    g = p.add_argument_group("LLM judge (docs/judge.md)")
    g.add_argument("--judge", metavar="MODEL", help="judge model: a served model name (with --judge-base-url), "
                   "an HF directory, .gguf file or hub id, or `embedded` (SmolLM2-135M)")
    g.add_argument("--judge-backend", choices=JUDGE_BACKENDS,
                   help="openai (default with --judge-base-url) | vllm | transformers (default otherwise)")
    g.add_argument("--judge-base-url", help="the judge's OpenAI-compatible server, e.g. http://127.0.0.1:8001/v1")
    g.add_argument("--judge-api-key-env", help="environment variable holding the judge server's API key")
    g.add_argument("--judge-max-tokens", type=int, default=1024, help="judge reply cap (default 1024)")
    g.add_argument("--judge-temperature", type=float, default=0.0, help="judge temperature (default 0)")
    g.add_argument("--judge-top-p", type=float, default=1.0, help="judge nucleus sampling (default 1)")
    g.add_argument("--judge-seed", type=int, default=0, help="base seed of the judge's requests (default 0)")
    g.add_argument("--judge-template", metavar="FILE", help="prompt template file instead of the task's "
                   "built-in one (placeholders {question}, {reference}, {answer})")
    g.add_argument("--judge-concurrency", type=int, default=16, help="judge requests in flight (default 16)")
    g.add_argument("--judge-max-retries", type=int, help="retries of a failed judge request (openai backend; "
                   "default: the backend's)")
    g.add_argument("--judge-request-timeout", type=float, help="seconds per judge request (openai backend)")
    if run:
        g.add_argument("--grader", choices=["rule", "judge"], default=None,
                       help="judge: the judge's verdict is the score (any JSONL bench, free-form answers); "
                            "default: the bench's own grader (SimpleQA's is the judge)")
        g.add_argument("--judge-decides-negatives", action="store_true",
                       help="cascade: the judge decides the samples the rule grader calls wrong or unanswered")


def judge_spec(args: argparse.Namespace, default_template: str, pairwise_allowed: bool = False) -> JudgeSpec | None:
    """The JudgeSpec of the flags (None without --judge), its template loaded and checked."""
    if not getattr(args, "judge", None):
        stray = [f"--{k.replace('_', '-')}" for k in ("judge_base_url", "judge_backend", "judge_template",
                                                      "judge_api_key_env") if getattr(args, k, None)]
        if stray or getattr(args, "judge_decides_negatives", False):
            raise UsageError(f"{', '.join(stray) or '--judge-decides-negatives'} needs --judge MODEL")
        return None
    if args.judge_max_tokens < 1 or args.judge_concurrency < 1:
        raise UsageError("--judge-max-tokens and --judge-concurrency must be >= 1")
    backend = args.judge_backend or ("openai" if args.judge_base_url else _local_backend())
    template = load_template(args.judge_template or default_template).check(pairwise_allowed)
    spec = JudgeSpec(args.judge, backend, args.judge_base_url, args.judge_api_key_env,
                     args.judge_max_tokens, args.judge_temperature, args.judge_top_p, args.judge_seed,
                     args.judge_concurrency, args.judge_max_retries, args.judge_request_timeout, template)
    spec.validate()
    return spec


def _local_backend() -> str:
    from r1eval.backends import resolve_backend

    return resolve_backend("auto")


def judge_setup(args: argparse.Namespace, bench: Any) -> tuple[Any, Any]:
    """(bench, JudgeSetup or None) for `r1eval run`: `--grader judge` turns a JSONL bench into a judge-graded
    free-form one; a judge-graded bench without --judge is one line, exit 2."""
    from r1eval.benches.simpleqa import judged_file_bench
    from r1eval.judge.stage import JudgeSetup

    if args.grader == "judge" and not bench.needs_judge:
        if str(args.bench).endswith(".jsonl"):
            bench = judged_file_bench(Path(args.bench))
        elif bench.needs_sandbox:
            raise UsageError(f"--grader judge: bench {bench.name} is graded by running tests; drop --grader judge")
    judge_only = bench.needs_judge
    grader_mode = judge_only or args.grader == "judge"
    if args.grader == "rule" and judge_only:
        raise UsageError(f"bench {bench.name} has no rule grader; its answers are graded by a judge (--judge MODEL)")
    spec = judge_spec(args, getattr(bench, "judge_template", "answer-match"))
    if spec is None:
        if grader_mode:
            raise UsageError(f"bench {bench.name} is graded by an LLM judge: pass --judge MODEL (with "
                             "--judge-base-url URL for a server, or --judge-backend transformers for a local model)")
        return bench, None
    if bench.needs_sandbox:
        raise UsageError(f"--judge: bench {bench.name} is graded by running tests; a judge grades math, "
                         "multiple-choice and free-form answers")
    if args.judge_decides_negatives and grader_mode:
        raise UsageError("--judge-decides-negatives needs a rule grader to cascade from; with --grader judge or "
                         f"bench {bench.name} the judge already decides every sample")
    mode = "grader" if grader_mode else ("cascade" if args.judge_decides_negatives else "second-opinion")
    return bench, JudgeSetup(spec, mode, judge_only=judge_only)


def add_judge_parser(sub: argparse._SubParsersAction) -> None:
    """Register `r1eval judge calibrate`."""
    p = sub.add_parser("judge", help="measure an LLM judge against labelled verdicts")
    verbs = p.add_subparsers(dest="judge_command", required=True, parser_class=type(p))
    c = verbs.add_parser("calibrate", help="agreement, false-positive and false-negative rates of a judge on "
                                           "labelled rows")
    c.add_argument("--input", type=Path, required=True,
                   help="JSONL rows: question, reference, completion, label (JSON true/false)")
    c.add_argument("--output", type=Path, help="directory for calibration.json and verdicts.jsonl (the verdict "
                                               "cache: a rerun asks only for missing ones); default next to --input")
    c.add_argument("--limit", type=int, help="only the first N rows")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_judge_flags(c)


def cmd_judge(args: argparse.Namespace) -> int:
    """`r1eval judge calibrate`."""
    from r1eval.judge.calibrate import format_calibration, run_calibration

    spec = judge_spec(args, "answer-match", pairwise_allowed=True)
    if spec is None:
        raise UsageError("r1eval judge calibrate needs --judge MODEL")
    out = args.output or args.input.with_name(args.input.stem + ".calibration")
    report = run_calibration(spec, args.input, out, limit=args.limit, progress=not args.no_progress)
    print(format_calibration(report))
    print(f"wrote {out / 'calibration.json'} and {out / 'verdicts.jsonl'}")
    return 0
