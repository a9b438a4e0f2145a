"""The run directory without a model: the tear at the newline, the writer lock, identity refusals, rows
missing a field, the data hash, durable JSON writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from r1eval.errors import UsageError
from r1eval.records import Problem, Sample
from r1eval.rundir import IDENTITY_KEYS, RunDir, read_samples, write_json
from r1eval.runner import data_sha256

CONFIG = {"bench": "aime24", "model": "m", "model_sha256": "abc", "tokenizer": None, "tokenizer_sha256": "tok",
          "chat_template_sha256": "tpl", "data_sha256": "d", "bench_provenance": {"grader": {"name": "g", "version": "1"}},
          "backend": "transformers", "dtype": "float32", "server_defaults": [], "temperature": 0.6, "top_p": 0.95,
          "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
          "max_tokens": 64, "seed": 0, "force_think": False, "system_prompt": None, "chat_template_kwargs": None,
          "n": 2}


def sample(pid: str, idx: int) -> Sample:
    return Sample(pid, idx, 1000 + idx, "prompt", f"completion {pid}/{idx}", "1", idx == 0, 5, "stop", "1")


def make_run(path: Path, samples: list[Sample]) -> RunDir:
    rd = RunDir(path)
    rd.open(CONFIG)
    rd.append(samples)
    rd.close()
    return rd


def test_identity_keys_cover_every_sampling_field() -> None:
    from dataclasses import fields

    from r1eval.records import SamplingParams

    assert {f.name for f in fields(SamplingParams)} - {"n"} <= set(IDENTITY_KEYS)
    for key in ("backend", "dtype", "model_sha256", "tokenizer_sha256", "chat_template_sha256", "data_sha256",
                "bench_provenance", "system_prompt", "chat_template_kwargs"):
        assert key in IDENTITY_KEYS


def test_tear_exactly_at_the_newline_keeps_the_record_and_restores_the_newline(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "run", [sample("a", 0), sample("a", 1)])
    text = rd.samples_path.read_text()
    rd.samples_path.write_text(text[:-1])  # killed after the last record's "}" but before its "\n"
    kept = rd.open(CONFIG)
    assert [(s.problem_id, s.sample_index) for s in kept] == [("a", 0), ("a", 1)]
    rd.append([sample("b", 0)])  # must start a new line, not merge with the last record
    rd.close()
    lines = rd.samples_path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(ln) for ln in lines)
    assert rd.samples_path.read_text().endswith("\n")
    assert [s.problem_id for s in read_samples(rd.samples_path, strict=True)] == ["a", "a", "b"]


def test_torn_mid_record_is_dropped(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "run", [sample("a", 0), sample("a", 1)])
    text = rd.samples_path.read_text()
    rd.samples_path.write_text(text[: len(text) - 20])
    assert len(read_samples(rd.samples_path)) == 1  # readers skip the torn line, the file is untouched
    assert rd.samples_path.read_text() == text[: len(text) - 20]
    assert len(rd.open(CONFIG)) == 1
    rd.close()
    assert rd.samples_path.read_text() == text.splitlines(keepends=True)[0]  # the writer cut it off


def test_missing_field_is_named_when_resuming_and_readers_accept_it(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "run", [sample("a", 0), sample("a", 1), sample("b", 0)])
    rows = [json.loads(ln) for ln in rd.samples_path.read_text().splitlines()]
    del rows[1]["seed"]
    rd.samples_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UsageError, match=r"samples\.jsonl:2: missing field 'seed'"):
        rd.open(CONFIG)
    assert rd._lock is None  # a refused open releases the lock
    lenient = read_samples(rd.samples_path)  # what report, gate, audit and the distill filter call
    assert [s.seed for s in lenient] == [1000, None, 1000]
    assert [s.completion for s in lenient][1] == "completion a/1"


def test_changed_identity_is_refused_naming_the_fields(tmp_path: Path) -> None:
    make_run(tmp_path / "run", [sample("a", 0)])
    changes = {"dtype": "bfloat16", "backend": "vllm", "top_k": 20, "system_prompt": "Be brief.",
               "chat_template_kwargs": {"enable_thinking": True}, "data_sha256": "other",
               "bench_provenance": {"grader": {"name": "g", "version": "2"}}, "tokenizer_sha256": "tok2",
               "chat_template_sha256": "tpl2", "repetition_penalty": 1.05}
    for key, value in changes.items():
        with pytest.raises(UsageError, match=rf"holds a run with different {key}\b.*new `output`") as info:
            RunDir(tmp_path / "run").open({**CONFIG, key: value})
        assert len(str(info.value).splitlines()) == 1
    with pytest.raises(UsageError, match=r'different dtype \("float32" there, "bfloat16" now\), top_k \(0 there, 20 now\)'):
        RunDir(tmp_path / "run").open({**CONFIG, "dtype": "bfloat16", "top_k": 20})
    rd = RunDir(tmp_path / "run")  # n may grow: not part of the identity
    assert len(rd.open({**CONFIG, "n": 8})) == 1
    rd.close()


def test_second_writer_is_refused_naming_the_holder_pid(tmp_path: Path) -> None:
    import os

    first = RunDir(tmp_path / "run")
    first.open(CONFIG)
    try:
        with pytest.raises(UsageError, match=rf"being written by another r1eval run \(PID {os.getpid()}\).*`wait_lock`"):
            RunDir(tmp_path / "run").open(CONFIG)
    finally:
        first.close()
    second = RunDir(tmp_path / "run")  # released: the next writer gets it
    second.open(CONFIG)
    second.close()


def test_waiting_writer_gets_the_lock_when_the_holder_closes(tmp_path: Path) -> None:
    first = RunDir(tmp_path / "run")
    first.open(CONFIG)
    first.append([sample("a", 0)])
    got: list[tuple[float, int]] = []

    def wait_for_it() -> None:
        rd = RunDir(tmp_path / "run")
        existing = rd.open(CONFIG, wait=True)
        got.append((time.monotonic(), len(existing)))
        rd.close()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not got  # still waiting (had it not waited, it would be done by now)
    released = time.monotonic()
    first.append([sample("a", 1)])
    first.close()
    waiter.join(timeout=10)
    assert got and got[0][0] >= released and got[0][1] == 2  # it sees what the holder wrote


def test_data_hash_covers_tests_and_meta() -> None:
    base = [Problem("1", [{"role": "user", "content": "q"}], None, {"tests": [{"input": "1", "output": "2"}]})]
    changed = [Problem("1", [{"role": "user", "content": "q"}], None, {"tests": [{"input": "1", "output": "3"}]})]
    assert data_sha256(base) != data_sha256(changed)
    assert data_sha256(base) == data_sha256([Problem("1", [{"role": "user", "content": "q"}], None,
                                                     {"tests": [{"input": "1", "output": "2"}]})])


def test_write_json_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
