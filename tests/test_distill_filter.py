"""Rejection-sampling filter: each check on crafted traces, CLI outputs, dataset round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1eval.cli import main
from r1eval.distill.filter import (
    FilterConfig,
    Trace,
    filter_traces,
    load_chat_dataset,
    load_traces,
    longest_code_block,
    readability_reasons,
    repeated_ngram_ratio,
    split_think,
    write_filter_output,
)

PROBLEM = "What is 37 + 48?"
GOOD = ("<think>\nAdd the ones digits: 7 + 8 = 15. Write 5 and carry 1.\nAdd the tens digits: 3 + 4 + 1 = 8.\n"
        "So 37 + 48 = 85.\n</think>\nThe answer is \\boxed{85}.")


def trace(completion: str, correct: bool | None = True, pid: str = "p1", **kw) -> Trace:
    return Trace(pid, [{"role": "user", "content": PROBLEM}], "85", completion, correct, **kw)


def reasons_of(completion: str, cfg: FilterConfig | None = None, **kw) -> list[str]:
    return readability_reasons(trace(completion, **kw), cfg or FilterConfig())


def test_good_trace_passes_every_check():
    assert reasons_of(GOOD) == []
    assert split_think(GOOD) == (GOOD.split("<think>")[1].split("</think>")[0].strip(), "The answer is \\boxed{85}.")


@pytest.mark.parametrize("completion", [
    "The answer is \\boxed{85}, from adding the ones and then the tens.",  # no think block
    "<think>\nAdd the ones digits then the tens digits carefully.\n</think>\n",  # no summary
    "<think>\nAdd the ones digits then the tens digits and never stop thinking about it",  # never closed
    "<think>\n</think>\nThe answer is \\boxed{85}.",  # empty reasoning
    "Sure. <think>\nAdd the ones then the tens.\n</think>\nThe answer is \\boxed{85}.",  # text before think
])
def test_format_rejects_replies_that_are_not_think_then_summary(completion):
    assert "format" in reasons_of(completion)


def test_language_and_mixed_language():
    chinese = "<think>\n首先把个位相加然后把十位相加最后得到结果\n</think>\n答案是 \\boxed{85}"
    assert reasons_of(chinese)[:2] == ["language", "mixed_language"]
    # the same trace is fine when Chinese is the target language
    assert reasons_of(chinese, FilterConfig(language="zh")) == []
    # a few foreign words inside English reasoning: consistency 0.97 passes, mixing does not
    mixed = GOOD.replace("So 37", "然后 我们 进位 So 37").replace(
        "</think>", " ".join(f"check{i}" for i in range(200)) + "\n</think>")
    assert reasons_of(mixed) == ["mixed_language"]
    # a summary in another language fails consistency even when the reasoning is English
    assert "language" in reasons_of(GOOD.replace("The answer is", "答案是"))


def test_repetition():
    looping = "<think>\n" + "Add the ones digits and carry the one. " * 15 + "\n</think>\nThe answer is \\boxed{85}."
    assert repeated_ngram_ratio(looping) > 0.8
    assert repeated_ngram_ratio(GOOD) < 0.1
    assert reasons_of(looping) == ["repetition"]
    assert reasons_of(looping, FilterConfig(max_repeated_ngram_ratio=1.0)) == []


def test_length_bounds_and_truncation():
    assert reasons_of(GOOD, FilterConfig(max_chars=50)) == ["too_long"]
    assert reasons_of(GOOD, FilterConfig(min_chars=10_000, max_chars=20_000)) == ["too_short"]
    assert reasons_of(GOOD, finish_reason="length") == ["truncated"]
    assert reasons_of(GOOD, FilterConfig(reject_truncated=False), finish_reason="length") == []


def test_long_code_block_rejected_in_math_but_allowed_for_code():
    code = "\n".join(f"x{i} = {i} + {i}" for i in range(12))
    completion = f"<think>\nLet me compute it.\n```python\n{code}\n```\nThat gives it.\n</think>\nThe answer is \\boxed{{85}}."
    assert longest_code_block(completion) == 12
    assert reasons_of(completion) == ["code_block"]
    assert reasons_of(completion, FilterConfig(allow_code=True)) == []
    short = completion.replace(code, "print(37 + 48)")
    assert reasons_of(short) == []


def test_correctness_is_graded_with_math_verify_and_dedupe_and_cap():
    wrong = GOOD.replace("boxed{85}", "boxed{75}")
    variant = GOOD.replace("The answer is", "Therefore the answer is")
    third = GOOD.replace("The answer is", "Hence the sum is")
    traces = [trace(GOOD, None), trace("  " + GOOD.upper().lower() + " ", None), trace(wrong, None),
              trace(variant, None), trace(third, None), trace(GOOD, None, pid="p2")]
    kept, rejected = filter_traces(traces, FilterConfig(max_per_prompt=2))
    assert [t.completion for t in kept] == [GOOD, variant, GOOD]
    assert [rs[0] for _, rs in rejected] == ["duplicate", "incorrect", "per_prompt_cap"]
    assert traces[2].correct is False and traces[0].correct is True


def test_cli_standalone_writes_kept_rejected_with_reason(tmp_path: Path, capsys):
    rows = [{"problem": PROBLEM, "answer": "85", "completion": GOOD},
            {"problem": PROBLEM, "answer": "85", "completion": GOOD.replace("boxed{85}", "boxed{86}")},
            {"problem": PROBLEM, "answer": "85", "completion": "just \\boxed{85}"}]
    inp = tmp_path / "traces.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["distill", "filter", "--input", str(inp), "--output", str(tmp_path / "out")]) == 0
    kept = [json.loads(x) for x in (tmp_path / "out" / "kept.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in kept] == [GOOD]
    assert [r["reason"] for r in rejected] == ["incorrect", "format"]
    report = json.loads((tmp_path / "out" / "filter_report.json").read_text())
    assert report["kept"] == 1 and report["rejected_by_reason"] == {"format": 1, "incorrect": 1}
    assert report["length_chars"]["kept"]["count"] == 1
    assert "kept 1/3" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys):
    inp = tmp_path / "bad.jsonl"
    inp.write_text(json.dumps({"completion": GOOD}) + "\n")
    assert main(["distill", "filter", "--input", str(inp), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "row 1 has no 'problem'" in err and err.count("\n") == 1
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"min_language_consistancy": 0.5}))
    assert main(["distill", "filter", "--input", str(inp), "--output", str(tmp_path / "o"),
                 "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown option min_language_consistancy" in err and "did you mean min_language_consistency?" in err


def test_dataset_round_trip(tmp_path: Path):
    traces = [trace(GOOD, pid="a"), trace(GOOD.replace("37 + 48 = 85", "37 plus 48 is 85"), pid="b")]
    kept, rejected = filter_traces(traces, FilterConfig())
    assert not rejected
    write_filter_output(tmp_path, kept, rejected, FilterConfig())
    ds = load_chat_dataset(tmp_path)
    assert ds.column_names == ["problem_id", "messages", "gold"]
    assert [r["messages"] for r in ds] == [[{"role": "user", "content": PROBLEM},
                                            {"role": "assistant", "content": t.completion}] for t in kept]
    from_jsonl = load_chat_dataset(tmp_path / "train.jsonl")
    assert [r["messages"] for r in from_jsonl] == [r["messages"] for r in ds]


def test_traces_from_a_run_directory(tmp_path: Path):
    """A `distill generate` output (ordinary run dir over a user JSONL) reloads its prompts from config.json."""
    from r1eval.benches.math import math_prompt
    from r1eval.records import Sample
    from r1eval.rundir import RunDir

    data = tmp_path / "probs.jsonl"
    data.write_text(json.dumps({"id": "q1", "problem": PROBLEM, "answer": "85"}) + "\n")
    run = RunDir(tmp_path / "run")
    run.open({"bench": "probs", "data": str(data)})
    run.append([Sample("q1", 0, 1, "rendered prompt", GOOD, "85", True, 40, "stop", "85"),
                Sample("q1", 1, 2, "rendered prompt", GOOD + " ", "85", True, 41, "length", "85")])
    run.close()
    traces, bench = load_traces(tmp_path / "run")
    assert bench.name == "probs"
    assert [t.messages for t in traces] == [math_prompt(PROBLEM)] * 2
    kept, rejected = filter_traces(traces, FilterConfig(), bench)
    assert len(kept) == 1 and rejected[0][1] == ["truncated"]


def test_nothing_kept_still_writes_an_empty_dataset(tmp_path: Path):
    kept, rejected = filter_traces([trace("no think block at all, \\boxed{85}")], FilterConfig())
    write_filter_output(tmp_path, kept, rejected, FilterConfig())
    assert len(load_chat_dataset(tmp_path)) == 0
    assert (tmp_path / "kept.jsonl").read_text() == ""
