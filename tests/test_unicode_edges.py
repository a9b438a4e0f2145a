"""Text that is not valid UTF-8 on its way out: a lone surrogate in a completion (a broken emoji an
OpenAI-compatible server sends as `\\ud800`, or a program's output) must never crash a writer and lose the
rows already graded (red-team finding: `r1eval grade --output` exited 1 with a 0-byte file)."""

from __future__ import annotations

import json
from pathlib import Path

from r1eval.cli import main
from r1eval.metrics import summarize
from r1eval.records import Sample, json_text, utf8_safe
from r1eval.rundir import RunDir, read_sample_rows, read_samples

LONE = "\ud800"


def test_json_text_escapes_only_what_utf8_cannot_hold() -> None:
    assert json_text({"a": "réponse 答案"}) == '{"a": "réponse 答案"}'  # readable when valid
    text = json_text({"a": f"x{LONE}y é"})
    text.encode("utf-8")  # always encodable
    assert json.loads(text) == {"a": f"x{LONE}y é"}  # and reads back to the same string
    assert utf8_safe(f"x{LONE}") == "x\ufffd"


def test_grade_output_with_a_lone_surrogate(tmp_path: Path, capsys) -> None:
    rows = [{"completion": "<think>ok</think> \\boxed{4}", "answer": "4"},
            {"completion": f"<think>{LONE}</think> \\boxed{{5}} {LONE}", "answer": "5"},
            {"completion": "<think>ok</think> \\boxed{3}", "answer": "4"}]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")  # ASCII escapes on disk
    assert main(["grade", "--input", str(inp), "--output", str(out)]) == 0
    graded = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["correct"] for r in graded] == [True, True, False]
    assert graded[1]["completion"] == rows[1]["completion"]


def test_run_directory_readers_and_writers_with_a_lone_surrogate(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    config = {"bench": "math500", "bench_provenance": {"grader": {"name": "r1eval-math", "version": "2"}}}
    run.open(config)
    samples = [Sample("p1", i, i, "prompt", f"<think>a{LONE}</think> \\boxed{{{i}}}", str(i), i == 1, 10, "stop", "1")
               for i in range(2)]
    run.append(samples)
    run.close()
    summary = summarize(samples, bench="math500", model=f"m{LONE}", n=2, equivalent=None, max_tokens=64)
    run.write_summary(summary)
    assert [s.completion for s in read_samples(run.samples_path, strict=True)] == [s.completion for s in samples]
    assert len(read_sample_rows(run.samples_path)) == 2
    assert main(["audit", str(run.path), "--no-progress", "--workers", "1"]) == 0
    assert main(["export", str(run.path), "--format", "parquet"]) == 0
    import pandas as pd

    frame = pd.read_parquet(run.path / "samples.parquet")
    assert frame["completion"].tolist()[0] == "<think>a\ufffd</think> \\boxed{0}"
    assert main(["export", str(run.path), "--format", "lm-eval", "--out", str(tmp_path / "lm")]) == 0
    assert main(["report", str(run.path), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "explorer.html").read_text(encoding="utf-8")
