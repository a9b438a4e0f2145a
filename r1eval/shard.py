"""Shard a run over machines and merge the shards: `r1eval run ... --shard I/N` and `r1eval merge`.

Pair (problem at position p of the bench, sample index i) belongs to shard (p + i) mod N. Each problem's
samples are spread over the shards (long and short problems balance; shard sizes differ by at most n), and
the assignment depends on neither n nor --limit, so a shard resumed with a larger n or more problems keeps
every sample it has. A shard is an ordinary run directory (resumable, locked, its own summary over the
pairs it owns) whose config.json carries `shard` {index, count}, part of its identity.

`r1eval merge SHARD_DIR... --output RUN_DIR` checks that the shards are shards of one run (same identity
but for the shard, same n and --limit, one count, no index twice), writes their samples into one run
directory and summarises them exactly as one unsharded run would (seeds and grading are per pair, the
summary orders problems as the bench does). Absent shards leave it `complete: false` with
`missing_shards`; rerunning the merge as more shards finish replaces the merged directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.records import Problem

ASSIGNMENT = "(problem position in the bench + sample index) mod count"


@dataclass(frozen=True)
class Shard:
    """Shard `index` (0-based) of `count`."""

    index: int
    count: int

    def as_config(self) -> dict[str, Any]:
        return {"index": self.index, "count": self.count, "assignment": ASSIGNMENT}

    def owner(self, all_problems: Sequence[Problem]) -> Callable[[str, int], bool]:
        """Whether this shard owns (problem id, sample index); positions are over the whole bench, so
        --limit does not move a pair to another shard."""
        position = {p.id: i for i, p in enumerate(all_problems)}
        return lambda pid, i: (position[pid] + i) % self.count == self.index


def parse_shard(text: str, env: Mapping[str, str] | None = None) -> Shard:
    """`--shard I/N` (0 <= I < N) or `--shard slurm` (SLURM_ARRAY_TASK_ID counted from SLURM_ARRAY_TASK_MIN,
    of SLURM_ARRAY_TASK_COUNT)."""
    env = os.environ if env is None else env
    if text.strip().lower() == "slurm":
        task, count = env.get("SLURM_ARRAY_TASK_ID"), env.get("SLURM_ARRAY_TASK_COUNT")
        if not task or not count:
            raise ConfigError("shard", "slurm needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (run it inside an "
                              "`sbatch --array` job), or pass I/N")
        try:
            index, total = int(task) - int(env.get("SLURM_ARRAY_TASK_MIN") or 0), int(count)
        except ValueError:
            raise ConfigError("shard", f"slurm: SLURM_ARRAY_TASK_ID={task!r} / SLURM_ARRAY_TASK_COUNT={count!r} "
                              "are not integers") from None
    else:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ConfigError("shard", f"{text!r}: expected I/N with 0 <= I < N (e.g. 0/4), or slurm")
        index, total = int(match[1]), int(match[2])
    if total < 1 or not 0 <= index < total:
        raise ConfigError("shard", f"index {index} is not in 0..{total - 1} (shards are numbered 0 to N-1)")
    return Shard(index, total)


# ------------------------------------------------------------------------------------------------ merge

MERGE_KEYS = ("n", "limit")  # besides the identity: the shards must cover the same problems x samples


def _shard_config(path: Path) -> dict[str, Any]:
    from r1eval.rundir import RunDir

    config = RunDir(path).config()
    shard = config.get("shard")
    if not isinstance(shard, dict) or "index" not in shard or "count" not in shard:
        raise UsageError(f"{path} is not a shard (its config.json has no shard); merge the directories of "
                         "`r1eval run ... --shard I/N` runs")
    return config


def check_shards(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[int]]:
    """The shards' configs, refusing shards of different runs in one line naming the field; and the indices
    of the shards not given."""
    from r1eval.rundir import IDENTITY_KEYS, identity_changes

    if not paths:
        raise UsageError("give the shard run directories to merge")
    configs = [_shard_config(p) for p in paths]
    first = configs[0]
    keys = tuple(k for k in IDENTITY_KEYS if k != "shard") + MERGE_KEYS
    seen: dict[int, Path] = {}
    for path, config in zip(paths, configs, strict=True):
        changed = identity_changes(first, config, keys)
        if config["shard"]["count"] != first["shard"]["count"]:
            changed.insert(0, f"shard count ({first['shard']['count']} there, {config['shard']['count']} here)")
        if changed:
            raise UsageError(f"{path} is not a shard of the same run as {paths[0]}: different {', '.join(changed)}")
        index = int(config["shard"]["index"])
        if index in seen:
            raise UsageError(f"{seen[index]} and {path} are both shard {index}; give each shard once")
        seen[index] = path
    missing = sorted(set(range(int(first["shard"]["count"]))) - set(seen))
    return configs, missing


def _problems(config: dict[str, Any]) -> tuple[Any, list[Problem], list[Problem]]:
    """(bench, all problems, the run's problems) as the shards loaded them, checked by data hash."""
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.runner import data_sha256

    options = dict(config.get("data_options") or {})
    include = options.pop("lm_eval_include", None)
    bench = get_bench(str(config["bench"]), Path(include) if include else None)
    data = config.get("data")
    load = LoadOptions(data=None if data in ("bundled", "hub", None) else Path(data), hub=data == "hub", extra=options)
    all_problems = bench.load(load)
    if data_sha256(all_problems) != config.get("data_sha256"):
        raise UsageError(f"the data of bench {config['bench']} ({data}) is not what the shards were run on "
                         "(data_sha256 differs); merge where the shards' data is")
    limit = config.get("limit")
    return bench, all_problems, all_problems[:limit] if limit else all_problems


def merge_shards(paths: Sequence[Path], output: Path) -> tuple[dict[str, Any], list[int]]:
    """Write the merged run directory `output` from shard directories; returns (summary, missing shards)."""
    from r1eval.records import SamplingParams
    from r1eval.rundir import RunDir, fsync_dir, iter_rows, write_json
    from r1eval.runner import run_summary
    from r1eval.sampleset import SampleSet, summary_key

    paths = [Path(p) for p in paths]
    configs, missing = check_shards(paths)
    out = RunDir(output)
    if any(out.path.resolve() == p.resolve() for p in paths):
        raise ConfigError("output", f"{output} is one of the shards; give a new directory")
    if out.exists() and not out.config().get("merged_from"):
        raise UsageError(f"{output} holds a run that is not a merge of shards; pass a new `output`")
    first = configs[0]
    bench, all_problems, problems = _problems(first)
    params = SamplingParams(**{k: first[k] for k in SamplingParams.__dataclass_fields__ if k in first})
    wanted = {p.id for p in problems}
    finished = SampleSet()
    out.lock()
    try:
        tmp = out.samples_path.with_suffix(".jsonl.tmp")
        from r1eval.records import Sample, json_text

        merged_from = []
        with tmp.open("w", encoding="utf-8") as fh:
            for path, config in zip(paths, configs, strict=True):
                shard = Shard(int(config["shard"]["index"]), int(config["shard"]["count"]))
                owned = shard.owner(all_problems)
                kept = 0
                for _, row in iter_rows(RunDir(path).samples_path):
                    sample = Sample.from_dict(row, strict=False)
                    key = (sample.problem_id, sample.sample_index)
                    if sample.problem_id not in wanted or not isinstance(sample.sample_index, int) \
                            or sample.sample_index >= params.n or not owned(*key):
                        continue
                    fh.write(json_text(row) + "\n")
                    finished.add(sample)
                    kept += 1
                merged_from.append({"path": str(path), "shard": shard.index, "samples": kept})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out.samples_path)
        fsync_dir(out.path)
        config = {**{k: v for k, v in first.items() if k not in ("resumed",)}, "shard": None,
                  "merged_from": merged_from, "missing_shards": missing}
        write_json(out.config_path, config)
        summary = run_summary(bench, str(first["model"]), params, problems, finished.select(wanted, params.n),
                              finished.flags, config)
        summary["missing_shards"] = missing
        if missing:
            summary["complete"] = False
        summary["summary_key"] = summary_key(out.samples_path, params.n, [p.id for p in problems],
                                             [str(first["model"]), params.max_tokens, first["bench_provenance"], None])
        out.write_summary(summary)
    finally:
        out.close()
    return summary, missing


def merge_message(summary: dict[str, Any], missing: list[int], output: Path) -> str:
    """The one line `r1eval merge` prints."""
    if missing:
        return (f"merged {summary['num_samples']} samples into {output}; incomplete: shard(s) "
                f"{', '.join(map(str, missing))} missing ({summary.get('missing_samples')} samples); rerun the "
                "merge when they finish")
    state = "complete" if summary.get("complete", True) else (
        f"incomplete: {summary.get('missing_samples')} samples not finished in the shards")
    return f"merged {summary['num_samples']} samples into {output} ({state}); pass@1 {summary['pass@1']:.4f}"


def add_merge_parser(sub: Any) -> None:
    p = sub.add_parser("merge", help="merge the run directories of `r1eval run --shard I/N` into one run directory")
    p.add_argument("shards", nargs="+", type=Path, help="shard run directories (any subset; rerun as more finish)")
    p.add_argument("--output", type=Path, required=True, help="the merged run directory")


def cmd_merge(args: Any) -> int:
    summary, missing = merge_shards(args.shards, args.output)
    print(merge_message(summary, missing, args.output))
    return 0
