"""`r1eval run --shard I/N` and `r1eval merge` against a deterministic loopback server (benchmarks/loopback.py):
the merged shards are the unsharded run, sample by sample and in every summary number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.loopback import LoopbackServer, bench_golds
from r1eval.errors import ConfigError, UsageError
from r1eval.shard import Shard, parse_shard
from tests.test_cli_errors import assert_one_line_error

MODEL = "loopback-r1"


@pytest.fixture(scope="module")
def server():
    srv = LoopbackServer(MODEL, bench_golds("aime24"), correct_rate=0.5, median_tokens=300).start()
    yield srv
    srv.stop()


def run_args(server: LoopbackServer, out: Path, *extra: str, n: int = 5, limit: int = 7) -> list[str]:
    return ["run", "--backend", "openai", "--base-url", server.url, "--model", MODEL, "--bench", "aime24",
            "--limit", str(limit), "-n", str(n), "--max-tokens", "600", "--output", str(out), "--no-progress", *extra]


def samples(run: Path) -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {(r["problem_id"], r["sample_index"]): r for r in rows}


VOLATILE = ("summary_key", "missing_shards")


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in VOLATILE}


def test_assignment_spreads_each_problems_samples_and_balances() -> None:
    from r1eval.records import Problem

    problems = [Problem(f"p{i}", []) for i in range(30)]
    n, count = 64, 3
    owners = [Shard(i, count).owner(problems) for i in range(count)]
    sizes = [sum(own(p.id, j) for p in problems for j in range(n)) for own in owners]
    assert sum(sizes) == 30 * n and max(sizes) - min(sizes) <= n
    for p in problems:  # every pair has exactly one shard, and each problem is spread over all of them
        assert all(sum(own(p.id, j) for own in owners) == 1 for j in range(n))
        assert all(any(own(p.id, j) for j in range(n)) for own in owners)


def test_parse_shard() -> None:
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard("slurm", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}) == Shard(3, 4)
    assert parse_shard("slurm", {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4",
                                 "SLURM_ARRAY_TASK_MIN": "1"}) == Shard(3, 4)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(ConfigError, match="^shard "):
            parse_shard(bad)
    with pytest.raises(UsageError, match="SLURM_ARRAY_TASK_ID"):
        parse_shard("slurm", {})


def test_shards_merged_equal_the_unsharded_run(server: LoopbackServer, cli, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert cli(*run_args(server, whole)).returncode == 0
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, out in enumerate(shards):
        result = cli(*run_args(server, out, "--shard", f"{i}/3"))
        assert result.returncode == 0, result.stderr
        config = json.loads((out / "config.json").read_text())
        assert config["shard"]["index"] == i and config["shard"]["count"] == 3
        summary = json.loads((out / "summary.json").read_text())
        assert summary["complete"] is True and summary["shard"]["index"] == i
    sizes = [len(samples(s)) for s in shards]
    assert sum(sizes) == 7 * 5 and max(sizes) - min(sizes) <= 5
    # a shard is an ordinary resumable run directory: rerunning it generates nothing
    before = server.requests
    assert cli(*run_args(server, shards[0], "--shard", "0/3")).returncode == 0
    assert server.requests == before

    merged = tmp_path / "merged"
    result = cli("merge", *map(str, shards), "--output", str(merged))
    assert result.returncode == 0, result.stderr
    assert "complete" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    assert samples(merged) == samples(whole)  # same seeds, same completions, same verdicts
    assert comparable(json.loads((merged / "summary.json").read_text())) == comparable(
        json.loads((whole / "summary.json").read_text()))
    # the merged directory is the unsharded run's: `r1eval run` on it has nothing left to do
    before = server.requests
    assert cli(*run_args(server, merged)).returncode == 0
    assert server.requests == before
    for command in (["export", str(merged), "--format", "lm-eval", "--out", str(tmp_path / "lm")],
                    ["report", str(merged), "--out", str(tmp_path / "report")],
                    ["gate", "--baseline", str(whole), "--candidate", str(merged)]):
        result = cli(*command)
        assert result.returncode == 0, (command, result.stderr)


def test_missing_shard_is_reported_then_filled(server: LoopbackServer, cli, tmp_path: Path) -> None:
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i in (0, 2):
        assert cli(*run_args(server, shards[i], "--shard", f"{i}/3", limit=4, n=3)).returncode == 0
    merged = tmp_path / "merged"
    result = cli("merge", str(shards[0]), str(shards[2]), "--output", str(merged))
    assert result.returncode == 0, result.stderr
    assert "shard(s) 1 missing" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["complete"] is False and summary["missing_shards"] == [1] and summary["missing_samples"] == 4
    # shard 1 finishes: the same merge command again completes the run
    assert cli(*run_args(server, shards[1], "--shard", "1/3", limit=4, n=3)).returncode == 0
    result = cli("merge", *map(str, shards), "--output", str(merged))
    assert result.returncode == 0, result.stderr
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["complete"] is True and summary["missing_shards"] == [] and summary["num_samples"] == 12


def test_mismatched_shards_are_refused(server: LoopbackServer, cli, tmp_path: Path) -> None:
    a, b, c, whole = (tmp_path / name for name in ("a", "b", "c", "whole"))
    assert cli(*run_args(server, a, "--shard", "0/2", limit=2, n=2)).returncode == 0
    assert cli(*run_args(server, b, "--shard", "1/2", "--temperature", "0.7", limit=2, n=2)).returncode == 0
    assert_one_line_error(cli("merge", str(a), str(b), "--output", str(tmp_path / "m")), "different temperature")
    assert cli(*run_args(server, c, "--shard", "1/3", limit=2, n=2)).returncode == 0
    assert_one_line_error(cli("merge", str(a), str(c), "--output", str(tmp_path / "m")), "different shard count")
    assert_one_line_error(cli("merge", str(a), str(a), "--output", str(tmp_path / "m")), "both shard 0")
    assert cli(*run_args(server, whole, limit=2, n=2)).returncode == 0
    assert_one_line_error(cli("merge", str(a), str(whole), "--output", str(tmp_path / "m")), "is not a shard")
    # a shard directory can't be resumed as another shard
    assert_one_line_error(cli(*run_args(server, a, "--shard", "1/2", limit=2, n=2)), "different shard")
    assert_one_line_error(cli(*run_args(server, a, "--shard", "3/2", limit=2, n=2)), "--shard")
