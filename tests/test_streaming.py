"""The streaming paths at scale: what they keep of a sample is enough (same answers, same verdicts, same
columns), and batches join into one file whatever each batch holds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from r1eval.audit import answer_part
from r1eval.reasoning import answer_region, split_reasoning
from r1eval.sampleset import SampleSet, text_flags


@pytest.mark.parametrize("completion", [
    "<think>\nlong reasoning</think>\n\nThe answer is \\boxed{7}.", "reasoning only</think>\\boxed{3}",
    "<think>\nnever closed", "no tags at all, \\boxed{5}", "</think> x <think> y \\boxed{2}",
    "<think>a</think>b</think>\\boxed{9}", ""])
def test_answer_part_reads_as_the_completion(completion: str) -> None:
    part = answer_part(completion)
    assert answer_region(part) == answer_region(completion)
    assert len(part) <= len(completion) + len("</think>")


def test_text_flags_are_what_summarize_computes() -> None:
    from r1eval.grading.language import mixed_language
    from r1eval.records import Sample

    for text in ("<think>plain English reasoning</think>\\boxed{1}", "<think>cut off", "<think>我们需要检查这个结果 ok"
                 "</think>x", "<think>naïve café résumé</think>y"):
        unclosed, mixed = text_flags(text)
        assert unclosed == (answer_region(text) is None)
        assert mixed == mixed_language(split_reasoning(text)[0])
    kept = SampleSet().add(Sample("p", 0, 1, [{"role": "user", "content": "q"}], "<think>t</think>a", "a", True, 5,
                                  "stop"))
    assert kept.completion == "" and kept.prompt == "" and kept.correct is True


def test_parquet_batches_join_with_a_field_first_seen_late(tmp_path: Path, monkeypatch) -> None:
    import r1eval.export as export

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"bench": "aime24", "model": "m", "seed": 0, "limit": None}))
    rows = [{"problem_id": str(i // 4), "sample_index": i % 4, "seed": i, "prompt": [], "completion": f"c{i}",
             "extracted_answer": None if i < 5 else str(i), "correct": i % 2 == 0, "completion_tokens": i,
             "finish_reason": "stop", "gold": "1", "detail": {}} for i in range(11)]
    rows[9]["score"] = 0.5  # a field only a late batch has
    rows[10]["note"] = {"k": "v"}
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(export, "PARQUET_BATCH", 3)
    out = export.export_parquet(run)
    df = pd.read_parquet(out)
    assert len(df) == 11 and df["seed"].tolist() == list(range(11))
    assert df["extracted_answer"].isna().sum() == 5 and df["extracted_answer"].iloc[7] == "7"
    assert pd.isna(df["score"].iloc[0]) and df["score"].iloc[9] == 0.5
    assert json.loads(df["note"].iloc[10]) == {"k": "v"} and df["run_seed"].iloc[0] == 0
    assert str(df["sample_index"].dtype) == "Int64" and str(df["correct"].dtype) == "boolean"
