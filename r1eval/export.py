"""`r1eval export RUN_DIR --format parquet|lm-eval [--out PATH]`: a run directory in formats other tools read.

- **parquet** (default `RUN_DIR/samples.parquet`): one row per sample of samples.jsonl (`problem_id`,
  `sample_index`, `seed`, `prompt`, `completion`, `extracted_answer`, `correct`, `completion_tokens`,
  `finish_reason`, `gold`, `detail`) plus the run's settings from config.json as columns (a setting whose
  name a sample field already uses gets a `run_` prefix: `run_seed` is the base seed). Nested values
  (chat messages, `detail`, `versions`, ...) are JSON strings; `pandas.read_parquet` reads it.
- **lm-eval** (default `RUN_DIR/lm-eval/`): the layout lm-eval's `EvaluationTracker` writes,
  `<model>/results_<date>.json` (`results`, `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`,
  `config`, `task_hashes`, ...) and `<model>/samples_<task>_<date>.jsonl` (one line per document and
  filter: `doc_id`, `doc`, `target`, `arguments`, `resps`, `filtered_resps`, `filter`, `metrics`, hashes and
  the per-document metric values), so lm-eval's tooling (`lm_eval.utils` file discovery, `make_table`,
  zeno_visualize, the hub "details" datasets) reads r1eval runs. The n samples of a document are n requests
  (`gen_args_0..n-1`, each with its own seed); a document's metric is the mean over its samples, so the task's
  `pass@1,none` is r1eval's pass@1; pass@k and cons@n come along, and an lm-eval task's own metrics keep
  their `metric,filter` keys. `<date>` is the run's creation time, so exporting twice gives the same files.

samples.jsonl is read leniently: rows may lack fields (e.g. `seed`), and a torn last line is skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.records import Sample, json_text, utf8_safe

SAMPLE_FIELDS = ("problem_id", "sample_index", "seed", "prompt", "completion", "extracted_answer", "correct",
                 "completion_tokens", "finish_reason", "gold", "detail")
LMEVAL_PREFIX = "lm-eval:"
LM_EVAL_FALLBACK = "[invalid]"  # lm-eval's regex filter output when nothing matched


def _run(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """(config, samples.jsonl path) of a run directory; samples are streamed, never held whole."""
    from r1eval.rundir import RunDir

    rd = RunDir(run_dir)
    config = rd.config()
    if not rd.samples_path.is_file():
        raise UsageError(f"{rd.samples_path} not found; is {run_dir} a run directory?")
    return config, rd.samples_path


PARQUET_BATCH = 512  # rows per parquet row group written: memory stays one batch of completions


def _arrow_type(values: list[Any]) -> Any:
    """The parquet column type of a column's (non-null) values: bool, int64, float64, else string."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json_text(value, sort_keys=True, default=str)


def _column(value: Any) -> Any:
    """A config value as a parquet cell: scalars as they are, anything nested as JSON text."""
    return value if value is None or isinstance(value, str | int | float | bool) else _json_text(value)


# ------------------------------------------------------------------------------------------------- parquet


def export_parquet(run_dir: Path, out: Path | None = None) -> Path:
    """One row per sample with the run's settings as columns; returns the parquet path."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from r1eval.rundir import iter_rows

    config, samples_path = _run(run_dir)
    out = out or run_dir / "samples.parquet"
    extra_values: dict[str, list[Any]] = {}  # first pass: the fields beyond Sample's and their values' types
    for _, s in iter_rows(samples_path):
        for k in s.keys() - set(SAMPLE_FIELDS):
            value = _column(s[k])
            kinds = extra_values.setdefault(k, [])
            if value is not None and not any(type(value) is type(v) for v in kinds):
                kinds.append(value)
    extra_fields = sorted(extra_values)
    sample_columns = [*SAMPLE_FIELDS, *extra_fields]
    run_columns = {(f"run_{k}" if k in sample_columns else k): _column(v) for k, v in config.items()}
    columns = [*sample_columns, *run_columns, "run_dir"]
    fixed = {"problem_id": pa.string(), "sample_index": pa.int64(), "seed": pa.int64(), "prompt": pa.string(),
             "completion": pa.string(), "extracted_answer": pa.string(), "correct": pa.bool_(),
             "completion_tokens": pa.int64(), "finish_reason": pa.string(), "gold": pa.string(),
             "detail": pa.string(), "run_dir": pa.string()}
    types = {**{k: _arrow_type(extra_values[k]) for k in extra_fields},
             **{k: _arrow_type([v]) for k, v in run_columns.items()}, **fixed}
    text_columns = {k for k in extra_fields if types[k] == pa.string()}

    def frame_of(batch: list[dict[str, Any]]) -> pd.DataFrame:
        records = []
        for s in batch:
            row: dict[str, Any] = {
                "problem_id": str(s.get("problem_id")), "sample_index": s.get("sample_index"), "seed": s.get("seed"),
                "prompt": _json_text(s.get("prompt")), "completion": s.get("completion"),
                "extracted_answer": _json_text(s.get("extracted_answer")), "correct": s.get("correct"),
                "completion_tokens": s.get("completion_tokens"), "finish_reason": s.get("finish_reason"),
                "gold": _json_text(s.get("gold")), "detail": _json_text(s.get("detail")),
            }
            row.update({k: _json_text(s.get(k)) if k in text_columns else _column(s.get(k)) for k in extra_fields})
            records.append({k: utf8_safe(v) if isinstance(v, str) else v
                            for k, v in {**row, **run_columns, "run_dir": str(run_dir)}.items()})
        frame = pd.DataFrame.from_records(records, columns=columns)
        for name in ("sample_index", "seed", "completion_tokens"):
            frame[name] = frame[name].astype("Int64")
        frame["correct"] = frame["correct"].astype("boolean")
        return frame

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    schema = None
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal writer, schema
        frame = frame_of(batch)
        if schema is None:  # pandas metadata (Int64, boolean) from the first batch, column types fixed above
            inferred = pa.Schema.from_pandas(frame, preserve_index=False)
            schema = pa.schema([pa.field(c, types[c]) for c in columns], metadata=inferred.metadata)
            writer = pq.ParquetWriter(out, schema)
        writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
        batch.clear()

    try:
        for _, s in iter_rows(samples_path):
            batch.append(s)
            if len(batch) >= PARQUET_BATCH:
                flush()
        if batch or writer is None:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return out


# ------------------------------------------------------------------------------------------------- lm-eval


def sanitize_model_name(name: str) -> str:
    """lm-eval's directory name for a model (lm_eval.utils.sanitize_model_name: the same substitution)."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()  # lm_eval.utils.hash_string


def _stderr(values: list[float]) -> float | str:
    """Standard error of the mean, as lm-eval reports it (sample stddev / sqrt(n)); "N/A" below 2 values."""
    if len(values) < 2:
        return "N/A"
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def _date_id(config: dict[str, Any]) -> tuple[str, float]:
    """(file date id, epoch) of the run's creation, formatted as EvaluationTracker's date ids."""
    try:
        created = datetime.strptime(str(config.get("created")), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        created = datetime.fromtimestamp(0, tz=UTC)
    return created.replace(tzinfo=None).isoformat().replace(":", "-"), created.timestamp()


def _documents(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An lm-eval task's documents by problem id, when the task still loads; {} otherwise."""
    bench = str(config.get("bench"))
    if not bench.startswith(LMEVAL_PREFIX):
        return {}
    from r1eval.benches import LoadOptions, get_bench

    include = (config.get("data_options") or {}).get("lm_eval_include")
    try:
        problems = get_bench(bench, Path(include) if include else None).load(LoadOptions())
    except (UsageError, ImportError):
        return {}
    return {p.id: p.meta["doc"] for p in problems}


def _lm_eval(config: dict[str, Any]) -> dict[str, Any]:
    return (config.get("bench_provenance") or {}).get("lm_eval") or {}


def _primary(config: dict[str, Any]) -> tuple[str, str]:
    """(metric, filter) behind the run's verdicts: an lm-eval task's primary, or r1eval's ("correct", "none")."""
    metric, _, filt = str(_lm_eval(config).get("primary") or "correct,none").rpartition(",")
    return metric, filt


def _filter_views(config: dict[str, Any], group: list[dict[str, Any]]) -> dict[str, list[Sample]]:
    """Each filter's view of one document's samples, as Samples whose extracted answer and verdict are that
    filter's. An r1eval bench has one view, "none"; an lm-eval task has one per filter, its primary filter
    being the run's own answers and verdicts, the others judged by the primary metric under that filter."""
    def view(s: dict[str, Any], answer: Any, correct: bool) -> Sample:
        return Sample(str(s.get("problem_id")), int(s.get("sample_index") or 0), s.get("seed") or 0, "", "",
                      answer, bool(correct), 0, str(s.get("finish_reason")))

    metric, primary = _primary(config)
    views = {}
    for filt in _lm_eval(config).get("filters") or [primary]:
        samples = []
        for s in group:
            if filt == primary:
                samples.append(view(s, s.get("extracted_answer"), s.get("correct")))
                continue
            detail = (s.get("detail") or {}).get("lm_eval") or {}
            scores = detail.get("metrics") or {}
            key = f"{metric},{filt}" if f"{metric},{filt}" in scores else next(
                (k for k in scores if k.endswith(f",{filt}")), None)
            score = scores.get(key) if key else None
            answer = _filtered(s, filt)
            answer = answer.strip() if isinstance(answer, str) and answer.strip() not in ("", LM_EVAL_FALLBACK) else None
            closed = "reason" not in (s.get("detail") or {})
            correct = closed and isinstance(score, int | float) and math.isclose(float(score), 1.0)
            samples.append(view(s, answer if closed else None, correct))
        views[filt] = samples
    return views


def _doc_metrics(config: dict[str, Any], group: list[dict[str, Any]], stats: dict[str, Any] | None,
                 ks: list[int]) -> dict[str, dict[str, float]]:
    """{filter: {metric: value}} for one document, the same metrics under every filter: pass@1, pass@k (k > 1)
    and cons@n over its samples (for the run's own verdicts, summary.json's per-problem numbers), and an lm-eval
    task's own scores under that filter averaged over the samples."""
    from r1eval.metrics import majority_vote, pass_at_k

    n = len(group)
    out: dict[str, dict[str, float]] = {}
    primary = _primary(config)[1]
    for filt, samples in _filter_views(config, group).items():
        c = sum(s.correct for s in samples)
        out[filt] = {"pass@1": c / n, **{f"pass@{k}": pass_at_k(n, c, k) for k in ks if k <= n},
                     f"cons@{n}": float(majority_vote(samples, lambda a, b: a == b))}
        if filt == primary and stats is not None and "cons" in stats:  # voted with the bench's equivalence
            out[filt][f"cons@{n}"] = float(stats["cons"])
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in group:
        for key, value in (((s.get("detail") or {}).get("lm_eval") or {}).get("metrics") or {}).items():
            metric, _, filt = key.rpartition(",")
            if isinstance(value, int | float) and metric and filt in out:
                scores[(filt, metric)].append(float(value))
    for (filt, metric), vals in scores.items():
        out[filt][metric] = sum(vals) / len(vals)
    return out


def _write_document(sink: Any, config: dict[str, Any], group: list[dict[str, Any]], stats: dict[str, Any] | None,
                    ks: list[int], docs: dict[str, dict[str, Any]], gen_kwargs: dict[str, Any], doc_id: int, pid: str,
                    values: dict[tuple[str, str], list[float]], hashed: list[str], first_filter: str | None) -> str | None:
    """Write one document's rows (one per filter) to the samples file; collects its metric values and the
    first filter's hashes. Returns the first filter of the export."""
    metrics = _doc_metrics(config, group, stats, ks)
    prompt = group[0].get("prompt")
    prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
    gold = group[0].get("gold")
    target = gold if isinstance(gold, str) else json.dumps(gold, ensure_ascii=False)
    doc = docs.get(pid) or {"problem_id": pid, "prompt": prompt_text, "gold": gold}
    arguments = {f"gen_args_{i}": {"arg_0": prompt_text, "arg_1": {**gen_kwargs, "seed": s.get("seed")}}
                 for i, s in enumerate(group)}
    for filt, doc_values in metrics.items():
        filtered = [_filtered(s, filt) for s in group]
        row = {"doc_id": doc_id, "doc": doc, "target": target,
               "arguments": arguments, "resps": [[str(s.get("completion") or "")] for s in group],
               "filtered_resps": ["" if f is None else str(f) for f in filtered], "filter": filt,
               "metrics": sorted(doc_values),
               "doc_hash": _hash(json.dumps(doc, indent=2, default=str, ensure_ascii=False)),
               "prompt_hash": _hash(prompt_text), "target_hash": _hash(target), **doc_values}
        sink.write(json_text(row, default=str) + "\n")
        first_filter = filt if first_filter is None else first_filter
        if filt == first_filter:
            hashed.append(row["doc_hash"] + row["prompt_hash"] + row["target_hash"])
        for metric, value in doc_values.items():
            values[(metric, filt)].append(value)
    return first_filter


def _filtered(sample: dict[str, Any], filt: str) -> Any:
    """A sample's response after filter `filt`: an lm-eval task's own filter output, else the extracted answer."""
    by_filter = ((sample.get("detail") or {}).get("lm_eval") or {}).get("filtered") or {}
    return by_filter[filt] if filt in by_filter else sample.get("extracted_answer")


def _row_index(path: Path) -> dict[str, list[tuple[int, int]]]:
    """problem id -> [(sample index, byte offset)] of samples.jsonl's rows in file order (a torn last line is
    skipped): a problem's rows are then read back on their own, so no more than one problem is held."""
    index: dict[str, list[tuple[int, int]]] = defaultdict(list)
    size, offset = path.stat().st_size, 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if offset >= size:  # a run still writing: its last line may be torn
                    break
                raise UsageError(f"{path}:{lineno}: corrupt sample line (not JSON); remove it") from None
            if isinstance(row, dict):
                index[str(row.get("problem_id"))].append((int(row.get("sample_index") or 0), start))
    return index


def _rows_at(fh: Any, offsets: list[int]) -> list[dict[str, Any]]:
    rows = []
    for offset in offsets:
        fh.seek(offset)
        rows.append(json.loads(fh.readline()))
    return rows


def export_lm_eval(run_dir: Path, out: Path | None = None) -> Path:
    """The run as lm-eval's results + samples files, written one document at a time; returns the model
    directory holding them."""
    from r1eval.rundir import RunDir

    config, samples_path = _run(run_dir)
    summary = RunDir(run_dir).summary()
    index = _row_index(samples_path)
    if not index:
        raise UsageError(f"{run_dir} has no samples to export")
    bench = str(config.get("bench"))
    lm_prov = _lm_eval(config)
    task = lm_prov.get("task") or bench
    n = int(summary.get("n_samples") or config.get("n") or 1)
    model = str(config.get("model"))
    date_id, epoch = _date_id(config)
    model_dir = (out or run_dir / "lm-eval") / sanitize_model_name(model)
    model_dir.mkdir(parents=True, exist_ok=True)

    per_problem = {str(r["problem_id"]): r for r in summary.get("per_problem", [])}
    by_problem: dict[str, list[int]] = {}  # the samples summary.json counts: its problems, sample indices below n
    for pid, entries in index.items():
        kept = [(idx, off) for idx, off in entries if not per_problem or (pid in per_problem and idx < n)]
        if kept:
            by_problem[pid] = [off for _, off in sorted(kept, key=lambda e: e[0])]
    order = [pid for pid in per_problem if pid in by_problem] + [pid for pid in by_problem if pid not in per_problem]
    numeric_ids = all(pid.isdigit() for pid in order)
    docs = _documents(config)
    gen_kwargs = {"temperature": config.get("temperature"), "top_p": config.get("top_p"),
                  "max_gen_toks": config.get("max_tokens"), "do_sample": True}
    ks = sorted(int(k) for k in summary.get("pass@k", {}) if int(k) > 1)

    values: dict[tuple[str, str], list[float]] = defaultdict(list)  # per-document values
    hashed: list[str] = []  # doc, prompt and target hashes of the first filter's rows (task_hashes)
    first_filter: str | None = None
    samples_file = model_dir / f"samples_{task}_{date_id}.jsonl"
    with samples_path.open("rb") as source, samples_file.open("w", encoding="utf-8") as sink:
        for position, pid in enumerate(order):
            group = _rows_at(source, by_problem[pid])
            first_filter = _write_document(sink, config, group, per_problem.get(pid), ks, docs, gen_kwargs,
                                           int(pid) if numeric_ids else position, pid, values, hashed, first_filter)
    task_results: dict[str, Any] = {"alias": task}
    for (metric, filt), vals in sorted(values.items()):
        task_results[f"{metric},{filt}"] = sum(vals) / len(vals)
        task_results[f"{metric}_stderr,{filt}"] = _stderr(vals)
    metric_names = sorted({m for m, _ in values})
    task_config = {
        "task": task, "output_type": "generate_until", "num_fewshot": int(lm_prov.get("num_fewshot") or 0),
        "repeats": n, "generation_kwargs": gen_kwargs,
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metric_names],
        "metadata": {"version": lm_prov.get("task_version") or (config.get("bench_provenance") or {})
                     .get("grader", {}).get("version"), "r1eval_bench": bench},
        "dataset_path": str(config.get("data")), "dataset_kwargs": config.get("data_options") or {},
    }
    if len({f for _, f in values}) > 1:
        task_config["filter_list"] = [{"name": f, "filter": []} for f in sorted({f for _, f in values})]
    versions = config.get("versions") or {}
    results = {
        "results": {task: task_results},
        "group_subtasks": {task: []},
        "configs": {task: task_config},
        "versions": {task: task_config["metadata"]["version"]},
        "n-shot": {task: task_config["num_fewshot"]},
        "higher_is_better": {task: {m: True for m in metric_names}},
        "n-samples": {task: {"original": len(order), "effective": len(order)}},
        "config": {"model": "r1eval", "model_args": f"model={model},backend={config.get('backend')}",
                   "batch_size": (config.get("backend_options") or {}).get("batch_size"), "limit": config.get("limit"),
                   "bootstrap_iters": 10000, "gen_kwargs": {**gen_kwargs, "n": n},
                   "random_seed": config.get("seed"), "numpy_seed": config.get("seed"),
                   "torch_seed": config.get("seed"), "fewshot_seed": 1234},
        "git_hash": config.get("git_commit"), "date": epoch, "upper_git_hash": None,
        "pretty_env_info": f"exported by r1eval from a run on {config.get('platform', 'N/A')}, Python "
                           f"{config.get('python', 'N/A')}",
        "transformers_version": versions.get("transformers", "N/A"),
        "lm_eval_version": lm_prov.get("version", "N/A"),
        "task_hashes": {task: _hash("".join(hashed))},
        "model_source": "r1eval", "model_name": model, "model_name_sanitized": sanitize_model_name(model),
        "system_instruction": None, "system_instruction_sha": None, "fewshot_as_multiturn": False,
        "chat_template": None, "chat_template_sha": None, "total_evaluation_time_seconds": "N/A",
        "r1eval": {"run_dir": str(run_dir), "bench": bench, "summary": {k: v for k, v in summary.items()
                                                                        if k != "per_problem"}},
    }
    (model_dir / f"results_{date_id}.json").write_text(json_text(results, indent=2, default=str)
                                                       + "\n", encoding="utf-8")
    return model_dir
