"""Regrading a run directory with this r1eval's grader: `r1eval grade --run DIR`.

A run records the grader that judged its samples (config.json `bench_provenance.grader`). When a newer r1eval
grades differently (a new grader version), resuming that run would mix two graders' verdicts in one summary,
so `r1eval run` refuses it (`grading.provenance.grader_change_message`) until the run is regraded: every sample's answer and
verdict are recomputed from its stored completion, samples.jsonl is rewritten atomically, config.json
records the new grader (and the regrade), and summary.json is recomputed. Nothing is generated again.
"""

from __future__ import annotations

import os
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.grading.provenance import recorded_grader
from r1eval.records import SamplingParams, json_text
from r1eval.rundir import RunDir, fsync_dir, read_sample_rows, read_samples, write_json
from r1eval.sampleset import SampleSet, summary_key


def regrade_run(path: Path) -> dict[str, Any]:
    """Regrade every sample of the run directory `path` with the current grader of its bench; returns the new
    summary. Holds the directory's writer lock throughout."""
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.runner import grade_rows, run_summary

    run_dir = RunDir(path)
    config = run_dir.config()
    if config.get("judge") or config.get("shard"):
        raise UsageError(f"{path} is a judged or sharded run: regrade is for runs graded by r1eval's own graders "
                         "(rerun it with a new `output` instead)")
    run_dir.lock()
    try:
        bench = get_bench(config["bench"])
        data = config.get("data")
        load = LoadOptions(data=Path(data) if data not in (None, "bundled", "hub") else None, hub=data == "hub",
                           extra=dict(config.get("data_options") or {}))
        rows = read_sample_rows(run_dir.samples_path)
        if not rows:
            raise UsageError(f"{path} has no samples to regrade")
        graded = grade_rows(bench, [{k: v for k, v in r.items() if k != "answer"} for r in rows], load,
                            source=str(run_dir.samples_path))
        regraded = []
        for old, new in zip(rows, graded, strict=True):
            backend = (old.get("detail") or {}).get("backend")
            detail = {**(new.get("detail") or {}), **({"backend": backend} if backend else {})}
            regraded.append({**old, "extracted_answer": new["extracted_answer"], "correct": new["correct"],
                             "detail": detail})
        _replace_lines(run_dir.samples_path, [json_text(r) for r in regraded])
        previous = recorded_grader(config)
        config["bench_provenance"] = bench.provenance()
        config["regraded"] = [*config.get("regraded", []), {"from": previous, "to": recorded_grader(config),
                                                             "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
        write_json(run_dir.config_path, config)
        problems = bench.load(load)
        problems = problems[: config["limit"]] if config.get("limit") else problems
        params = SamplingParams(**{f.name: config[f.name] for f in fields(SamplingParams) if f.name in config})
        finished = SampleSet()
        read_samples(run_dir.samples_path, strict=True, keep=finished.add)
        summary = run_summary(bench, config["model"], params, problems,
                              finished.select({p.id for p in problems}, params.n), finished.flags, config)
        summary["summary_key"] = summary_key(run_dir.samples_path, params.n, [p.id for p in problems],
                                             [config["model"], params.max_tokens, config["bench_provenance"],
                                              config.get("shard"), config.get("judge")])
        run_dir.write_summary(summary)
        bench.close()
        return summary
    finally:
        run_dir.close()


def _replace_lines(path: Path, lines: list[str]) -> None:
    """Rewrite a JSONL file atomically and durably (temp file, fsync, rename, fsync of the directory)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
