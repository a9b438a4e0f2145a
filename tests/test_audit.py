"""`r1eval audit`: run directories and graded files with planted disagreements list exactly those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1eval.audit import _string_match, audit_rows
from r1eval.benches.gpqa import reference_order, sample_order
from r1eval.cli import main
from r1eval.grading.math import MathGrader
from r1eval.reasoning import answer_region
from r1eval.records import sample_seed

MATH_GRADER = {"name": "r1eval-math", "version": "0"}  # an older grader than today's


def _write_run(path: Path, bench: str, grader: dict, rows: list[dict]) -> Path:
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"bench": bench, "bench_provenance": {"grader": grader}}))
    (path / "samples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _math_row(pid: str, index: int, region: str, gold: str, extracted: str | None, correct: bool) -> dict:
    # no seed, prompt or token counts: the audit needs only what it grades
    return {"problem_id": pid, "sample_index": index, "completion": f"<think>\nworking...\n</think>\n\n{region}",
            "gold": gold, "extracted_answer": extracted, "correct": correct}


def _plain_math_verify(completion: str, gold: str) -> bool:
    from math_verify import parse, verify

    return bool(verify(parse(f"${gold}$"), parse(answer_region(completion))))


# boxes where reading one box and reading the whole region may differ (they do for today's grader on at
# least one of these; which ones depends on r1eval's multi-box rules, so the test asks the graders)
MULTI_BOX = [("\\boxed{-2} and \\boxed{1}", "1,-2"), ("First \\boxed{3}, then \\boxed{7}", "7"),
             ("So $x = \\boxed{5}$.\n\nTherefore the answer is 6", "6"), ("The roots are \\boxed{2} and \\boxed{3}.", "3")]


def test_math_run_lists_exactly_the_planted_disagreements(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    agree = [_math_row("p1", i, f"The answer is $\\boxed{{{34 + i % 2}}}$.", "34", str(34 + i % 2), i % 2 == 0)
             for i in range(6)]
    planted = [
        _math_row("p2", 0, "So the total is $\\boxed{35}$.", "34", "35", True),  # recorded verdict is wrong
        _math_row("p2", 1, "So the total is $\\boxed{0.5}$.", "\\frac{1}{2}", "0.5", True),  # only string-match says no
        _math_row("p2", 2, "No box here, the total is 34.", "34", "34", True),  # only string-match says no
    ]
    multi = [_math_row("p3", i, region, gold, None, MathGrader(1).grade([(f"</think>{region}", gold)])[0].correct)
             for i, (region, gold) in enumerate(MULTI_BOX)]
    run = _write_run(tmp_path / "run", "math500", MATH_GRADER, agree + planted + multi)
    assert main(["audit", str(run), "--no-progress", "--workers", "1"]) == 0
    rows = [json.loads(line) for line in (run / "audit.jsonl").read_text().splitlines()]
    listed = {(r["problem_id"], r["sample_index"]): r for r in rows}

    # a multi-box case is listed iff r1eval (= its recorded verdict here), plain math-verify on the whole region
    # and string-match on the last box don't all agree
    box_disagree = {("p3", i) for i, row in enumerate(multi)
                    if len({row["correct"], _plain_math_verify(row["completion"], row["gold"]),
                            _string_match(answer_region(row["completion"]), row["gold"])[1]}) > 1}
    assert box_disagree, "none of the multi-box cases separates the graders any more; add one that does"
    assert set(listed) == {("p2", 0), ("p2", 1), ("p2", 2)} | box_disagree

    assert listed[("p2", 0)]["kind"] == "recorded_vs_regraded"
    assert listed[("p2", 0)]["graders"]["recorded"] == {"answer": "35", "correct": True}
    assert listed[("p2", 0)]["graders"]["r1eval"] == {"answer": "35", "correct": False}
    assert listed[("p2", 1)]["kinds"] == ["equivalence_differs"]  # all read 0.5; string-match rejects it
    assert listed[("p2", 1)]["graders"]["string-match"] == {"answer": "0.5", "correct": False}
    assert listed[("p2", 2)]["kinds"] == ["extraction_differs"]  # string-match reads no box at all
    for key in box_disagree:
        assert "extraction_differs" in listed[key]["kinds"] and listed[key]["gold"] == MULTI_BOX[key[1]][1]

    summary = json.loads((run / "audit_summary.json").read_text())
    assert summary["num_samples"] == len(agree) + len(planted) + len(multi)
    assert summary["num_disagreements"] == len(rows)
    assert summary["graders"] == ["recorded", "r1eval", "math-verify", "string-match"]
    assert summary["by_kind"]["recorded_vs_regraded"] == 1
    assert summary["recorded_grader"] == MATH_GRADER and summary["grader_changed"]
    assert summary["current_grader"]["name"] == "r1eval-math"
    n = summary["num_samples"]
    assert summary["agreement"]["recorded vs r1eval"] == pytest.approx((n - 1) / n, abs=1e-6)
    assert set(summary["agreement"]) == {"recorded vs r1eval", "recorded vs math-verify", "recorded vs string-match",
                                         "r1eval vs math-verify", "r1eval vs string-match",
                                         "math-verify vs string-match"}
    out = capsys.readouterr().out
    assert f"{len(rows)} disagreements" in out and "today's grader is r1eval-math" in out


def test_mcq_run_with_shuffled_choices(tmp_path: Path) -> None:
    """A GPQA run from the CSV form: each sample saw its own order; the audit maps letters back."""
    choices = ["Jupiter", "Mars", "Venus", "Mercury"]  # the CSV's Correct Answer first
    # a sample that was shown the right answer last (right before the chat template's end-of-turn token)
    last_right = next(i for i in range(5, 100) if sample_order(sample_seed(0, "f1", i))[3] == 0)
    rows = []
    for index, reply, recorded_ok in [
        (0, "Answer: {right}", True),  # all agree
        (1, "Answer: {wrong}", False),  # all agree (wrong)
        (2, "The answer is {right}.", False),  # recorded by an older extractor that missed it
        (3, "Comparing ({wrong}) with ({right}), the second is consistent with the data.", False),  # lenient only
        (last_right, "Answer: Jupiter", True),  # the choice's text
    ]:
        seed = sample_seed(0, "f1", index)
        order = sample_order(seed)
        right, wrong = "ABCD"[order.index(0)], "ABCD"[order.index(1)]
        prompt = "Question?\n\n" + "\n".join(f"{'ABCD'[j]}) {choices[k]}" for j, k in enumerate(order))
        gold = "ABCD"[reference_order("f1").index(0)]
        rows.append({"problem_id": "f1", "sample_index": index, "seed": seed,
                     "prompt": prompt + "<|im_end|>\n<|im_start|>assistant\n",
                     "completion": "<think>\nhmm\n</think>\n" + reply.format(right=right, wrong=wrong), "gold": gold,
                     "extracted_answer": gold if recorded_ok else None, "correct": recorded_ok,
                     "detail": {"choice_order": order}})
    run = _write_run(tmp_path / "run", "gpqa_diamond", {"name": "r1eval-mcq", "version": "1"}, rows)
    assert main(["audit", str(run), "--no-progress"]) == 0
    listed = {r["sample_index"]: r for r in map(json.loads, (run / "audit.jsonl").read_text().splitlines())}
    assert set(listed) == {2, 3}
    assert listed[2]["kind"] == "recorded_vs_regraded" and listed[2]["graders"]["r1eval"]["correct"]
    assert listed[3]["kinds"] == ["extraction_differs"]
    assert listed[3]["graders"]["r1eval"] == {"answer": None, "correct": False}
    assert listed[3]["graders"]["lenient"] == {"answer": rows[3]["gold"], "correct": True}
    summary = json.loads((run / "audit_summary.json").read_text())
    assert summary["kind"] == "mcq" and summary["graders"] == ["recorded", "r1eval", "lenient"]
    assert summary["agreement"]["r1eval vs lenient"] == pytest.approx(0.8)


def test_graded_file_from_r1eval_grade(tmp_path: Path) -> None:
    """`r1eval grade --output` rows (answer + recorded verdict) audit too; --out picks the directory."""
    inp, graded = tmp_path / "rows.jsonl", tmp_path / "graded.jsonl"
    rows = [{"answer": "34", "completion": "<think>x</think>\\boxed{34}"},
            {"answer": "1/2", "completion": "<think>x</think>\\boxed{0.5}"},
            {"answer": "7", "completion": "<think>x</think> the answer is \\boxed{8}"}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["grade", "--input", str(inp), "--output", str(graded)]) == 0
    lines = [json.loads(line) for line in graded.read_text().splitlines()]
    lines[2]["correct"] = True  # tamper with one recorded verdict
    graded.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert main(["audit", str(graded), "--out", str(tmp_path / "audit"), "--no-progress"]) == 0
    listed = [json.loads(line) for line in (tmp_path / "audit" / "audit.jsonl").read_text().splitlines()]
    assert [(r["id"], r["kinds"]) for r in listed] == [(1, ["equivalence_differs"]), (2, ["recorded_vs_regraded"])]
    summary = json.loads((tmp_path / "audit" / "audit_summary.json").read_text())
    assert summary["recorded_grader"] is None and not summary["grader_changed"] and summary["num_samples"] == 3


def test_mcq_kind_from_the_golds(tmp_path: Path) -> None:
    graded = tmp_path / "graded.jsonl"
    graded.write_text(json.dumps({"answer": "B", "completion": "<think>x</think>\nI weighed (A) against (B)."})
                      + "\n")
    assert main(["audit", str(graded), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "audit_summary.json").read_text())
    assert summary["kind"] == "mcq" and summary["graders"] == ["r1eval", "lenient"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: d / "missing", "not found"),
    (lambda d: (d / "run").mkdir() or d / "run", "no config.json"),
    (lambda d: _write_run(d / "r", "math500", MATH_GRADER, []), "no samples"),
    (lambda d: _write_run(d / "r", "humaneval", {"name": "r1eval-code", "version": "1"},
                          [{"completion": "x", "gold": "y"}]), "code bench"),
    (lambda d: (d / "g.jsonl").write_text('{"completion": "x"}\n') and d / "g.jsonl", "no 'gold' or 'answer'"),
    (lambda d: (d / "g.jsonl").write_text('{"answer": "1"}\n') and d / "g.jsonl", "no 'completion'"),
    (lambda d: (d / "g.jsonl").write_text('not json\n{"answer": "1", "completion": "x"}\n') and d / "g.jsonl",
     "corrupt sample line"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup,
                                          message: str) -> None:
    path = setup(tmp_path)
    assert main(["audit", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_torn_last_line_of_a_running_run_is_skipped(tmp_path: Path) -> None:
    run = _write_run(tmp_path / "run", "math500", MATH_GRADER,
                     [_math_row("p", 0, "\\boxed{1}", "1", "1", True)])
    with (run / "samples.jsonl").open("a") as fh:
        fh.write('{"problem_id": "p", "sample_ind')
    assert main(["audit", str(run), "--no-progress"]) == 0
    assert json.loads((run / "audit_summary.json").read_text())["num_samples"] == 1


def test_pool_and_serial_give_the_same_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    import r1eval.audit

    rows = [_math_row(f"p{i % 7}", i, f"So it is $\\boxed{{{i % 5}}}$, i.e. {i}.", str(i % 4), None, i % 2 == 0)
            for i in range(140)]
    serial = audit_rows(rows, "math", workers=1)
    monkeypatch.setattr(r1eval.audit, "_POOL_MIN_CHARS", 0)  # these short samples would be graded in-process
    started = []
    real_pool = r1eval.audit.process_pool
    monkeypatch.setattr(r1eval.audit, "process_pool",
                        lambda workers, preload: started.append(workers) or real_pool(workers, preload))
    pooled = audit_rows(rows, "math", workers=2)
    assert started == [2]
    assert serial == pooled and serial[1]["num_disagreements"] > 0
