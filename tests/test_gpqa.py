"""GPQA-Diamond: answer extraction, choice shuffling, loaders, per-sample requests, grade_rows."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.gpqa import LETTERS, parse_inline_choices, sample_order
from r1eval.cli import main
from r1eval.errors import UsageError
from r1eval.grading.mcq import extract_choice
from r1eval.records import SamplingParams, sample_seed
from r1eval.runner import grade_rows, pending_requests

REPO = Path(__file__).resolve().parent.parent
SHARED_MCQ = next((p for p in (Path("/work/shared/data/gpqa_diamond_mcq.jsonl"),
                               REPO.parent / "shared" / "data" / "gpqa_diamond_mcq.jsonl") if p.is_file()), None)
needs_shared = pytest.mark.skipif(SHARED_MCQ is None, reason="gpqa_diamond_mcq.jsonl snapshot not available")

CHOICES = ["10^-4 eV", "10^-11 eV", "10^-8 eV", "10^-9 eV"]
FAKE = [  # our own questions, in the GPQA CSV columns
    {"Record ID": "f1", "Question": "Which planet is the largest?", "Correct Answer": "Jupiter",
     "Incorrect Answer 1": "Mars", "Incorrect Answer 2": "Venus", "Incorrect Answer 3": "Mercury"},
    {"Record ID": "f2", "Question": "What is 2 + 2?", "Correct Answer": "4", "Incorrect Answer 1": "3",
     "Incorrect Answer 2": "5", "Incorrect Answer 3": "22"},
]


@pytest.mark.parametrize("completion, expected", [
    ("Answer: C", "C"),
    ("**Answer:** (C)", "C"),
    ("Answer: **B**", "B"),
    ("**Answer:**\n(D)", "D"),
    ("so the result is \\boxed{C}", "C"),
    ("The final answer is $\\boxed{\\text{(B)}}$", "B"),
    ("Answer: $\\boxed{A}$", "A"),
    ("The correct answer is option B.", "B"),
    ("Answer: C) 10^-8 eV", "C"),
    ("answer: (c)", "C"),
    ("Answer: 10^-8 eV", "C"),  # the answer text itself
    ("Working...\nThe energy difference must be 10^-9 eV\n10^-9 eV", "D"),
    ("Lots of reasoning.\n\n(B)", "B"),
    ("<think>Answer: A</think>\nAnswer: D", "D"),  # only after </think>
    ("<think>Answer: A ... still thinking", None),  # never closed: nothing counts
    ("Answer: A first guess.\nOn reflection the answer is B", "B"),  # the last one wins
    ("Answer: A shift of the level", None),  # "A" the article, not a letter
    ("I do not know.", None),
    ("", None),
])
def test_extraction_table(completion: str, expected: str | None) -> None:
    assert extract_choice(completion, CHOICES)[0] == expected


def test_sample_order_deterministic_and_balanced() -> None:
    assert sample_order(12345) == sample_order(12345)
    orders = {tuple(sample_order(sample_seed(0, f"q{p}", i))) for p in range(5) for i in range(8)}
    assert len(orders) > 10  # samples really see different orders
    # the correct choice (source index 0) lands on each letter about a quarter of the time
    positions = Counter(sample_order(sample_seed(0, f"q{p}", i)).index(0) for p in range(200) for i in range(20))
    chi2 = sum((c - 1000) ** 2 / 1000 for c in positions.values())
    assert set(positions) == set(range(4)) and chi2 < 16.27  # chi^2(3) 99.9% quantile


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_form_shuffles_per_sample_and_grades_in_reference_letters(tmp_path: Path) -> None:
    bench = get_bench("gpqa_diamond")
    problems = bench.load(LoadOptions(data=_write_csv(tmp_path / "fake.csv", FAKE)))
    p = problems[0]
    assert p.meta["shuffle"] and p.gold == LETTERS[p.meta["reference_order"].index(0)]
    requests = pending_requests(problems, set(), SamplingParams(n=6, seed=3), bench)
    assert sum(len(r.sample_indices) for r in requests) == 12
    assert len({json.dumps(r.messages) for r in requests if r.problem_id == "f1"}) > 1
    for req in requests:
        for idx, seed in zip(req.sample_indices, req.seeds, strict=True):
            shown = bench.sample_problem(next(q for q in problems if q.id == req.problem_id), idx, seed)
            assert shown.messages == req.messages
            right = LETTERS[shown.meta["order"].index(0)]  # where the correct answer was shown
            assert f"{right}) {shown.meta['choices'][0]}" in shown.messages[0]["content"]
            good, bad = bench.grade([(shown, f"Answer: {right}"),
                                     (shown, f"Answer: {LETTERS[(LETTERS.index(right) + 1) % 4]}")])
            assert good.correct and good.extracted_answer == shown.gold and good.detail["shown_letter"] == right
            assert good.detail["choice_order"] == shown.meta["order"]
            assert not bad.correct
            by_text = bench.grade([(shown, f"Answer: {shown.meta['choices'][0]}")])[0]
            assert by_text.correct


def test_csv_form_rejects_missing_columns(tmp_path: Path) -> None:
    bad = [{k: v for k, v in FAKE[0].items() if k != "Incorrect Answer 2"}]
    with pytest.raises(UsageError, match="Incorrect Answer 2"):
        get_bench("gpqa_diamond").load(LoadOptions(data=_write_csv(tmp_path / "bad.csv", bad)))


def test_no_data_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not bundled"):
        get_bench("gpqa_diamond").load(LoadOptions())


@needs_shared
def test_mcq_snapshot_loads_with_fixed_order() -> None:
    bench = get_bench("gpqa_diamond")
    problems = bench.load(LoadOptions(data=SHARED_MCQ))
    assert len(problems) == 198
    assert all(p.meta["choices"] and len(p.meta["choices"]) == 4 for p in problems)
    assert bench.sample_problem(problems[0], 3, 99) is problems[0]  # pre-shuffled: no per-sample order
    assert parse_inline_choices(problems[0].meta["question"]) == problems[0].meta["choices"]


@needs_shared
def test_grade_cli_on_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = get_bench("gpqa_diamond").load(LoadOptions(data=SHARED_MCQ))
    rows = [{"problem_id": p.id, "completion": f"<think>hmm</think>\n**Answer:** ({p.gold})"} for p in problems[:5]]
    rows += [{"answer": "B", "completion": "\\boxed{C}"}, {"answer": "A", "completion": "no idea"}]
    inp, out = tmp_path / "rows.jsonl", tmp_path / "graded.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["grade", "--bench", "gpqa_diamond", "--data", str(SHARED_MCQ), "--input", str(inp),
                 "--output", str(out)]) == 0
    assert "accuracy 0.7143 (5/7)" in capsys.readouterr().out
    graded = [json.loads(line) for line in out.read_text().splitlines()]
    assert graded[-1]["detail"]["unparseable"] and graded[-1]["extracted_answer"] is None


def test_grade_rows_with_sample_seed_uses_that_samples_order(tmp_path: Path) -> None:
    bench = get_bench("gpqa_diamond")
    data = _write_csv(tmp_path / "fake.csv", FAKE)
    problem = bench.load(LoadOptions(data=data))[1]
    seed = sample_seed(0, problem.id, 5)
    shown_right = LETTERS[sample_order(seed).index(0)]
    rows = [{"problem_id": problem.id, "sample_index": 5, "seed": seed, "completion": f"Answer: {shown_right}"}]
    graded = grade_rows(bench, rows, LoadOptions(data=data))
    assert graded[0]["correct"] and graded[0]["extracted_answer"] == problem.gold


def test_grade_cli_bad_input_exits_2(tmp_path: Path) -> None:
    inp = tmp_path / "rows.jsonl"
    inp.write_text('{"problem_id": "f1", "completion": "Answer: A"}\n')
    assert main(["grade", "--bench", "gpqa_diamond", "--input", str(inp)]) == 2  # no --data


@pytest.mark.slow
def test_run_embedded_model_csv_form_and_resume(tmp_path: Path) -> None:
    """A real run: per-sample prompts reach the backend, every sample records its order, resume adds none."""
    data = _write_csv(tmp_path / "fake.csv", FAKE)
    args = ["run", "--bench", "gpqa_diamond", "--data", str(data), "-n", "3", "--max-tokens", "8",
            "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6
    for s in samples:
        order = s["detail"]["choice_order"]
        assert order == sample_order(s["seed"])
        correct_text = next(r["Correct Answer"] for r in FAKE if r["Record ID"] == s["problem_id"])
        assert f"{LETTERS[order.index(0)]}) {correct_text}" in s["prompt"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["unparseable"] == sum(bool(s["detail"].get("unparseable")) for s in samples)
    assert main(args) == 0
    assert len((tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 6
