"""lm-eval tasks under the R1 protocol: local YAML tasks (tests/data/lm_eval_tasks) loaded by lm-eval's own
TaskManager, scored by their own filters and metrics, checked against lm-eval's evaluator, run end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

from r1eval.benches import LoadOptions, get_bench  # noqa: E402
from r1eval.benches.lmeval import task_config_sha256  # noqa: E402
from r1eval.cli import main  # noqa: E402
from r1eval.errors import UsageError  # noqa: E402
from r1eval.runner import grade_rows  # noqa: E402
from tests.lm_eval_scripted import TASKS, lm_eval_on_replies  # noqa: E402


def bench(name: str):
    return get_bench(f"lm-eval:{name}", TASKS)


def test_documents_prompts_targets_and_ids():
    arith = bench("r1_arith")
    problems = arith.load(LoadOptions())
    assert [p.id for p in problems] == ["0", "1", "2"]  # no `id` field: the index in the test split
    assert problems[0].messages == [{"role": "user", "content": "Question: What is 2 + 3?\nAnswer:"}]
    assert [p.gold for p in problems] == ["5", "6", "9"]
    capitals = bench("r1_capitals")
    problems = capitals.load(LoadOptions())
    assert [p.id for p in problems] == ["fr", "jp"]  # the documents' own ids
    # the description (a system turn in lm-eval's chat format) opens the one user turn; Jinja target
    assert problems[0].messages == [{"role": "user", "content": "Answer with the city only.\n\n"
                                                               "What is the capital of France?"}]
    assert problems[1].gold == "Tokyo"


# (reply, correct, extracted answer, exact_match under strict-match, under flexible-extract) for doc 0 (gold 5)
ARITH_CASES = [
    ("<think>2 plus 3</think>The answer is 5.", True, "5.", 1.0, 1.0),  # ignore_punctuation: "5." == "5"
    ("<think>so 5</think>The answer is 7", False, "7", 0.0, 0.0),
    ("<think>hmm</think>I get 5", False, None, 0.0, 1.0),  # strict regex misses: lm-eval's [invalid]
    ("<think>The answer is 5", False, None, 0.0, 0.0),  # reasoning never closed: scored as an empty reply
    ("The answer is 5", True, "5", 1.0, 1.0),  # no reasoning at all: the whole reply
    ("<think>The answer is 5</think>The answer is 4", False, "4", 0.0, 0.0),  # only after </think>
]


def test_grading_uses_the_tasks_filters_and_metric():
    arith = bench("r1_arith")
    doc0 = arith.load(LoadOptions())[0]
    verdicts = arith.grade([(doc0, reply) for reply, *_ in ARITH_CASES])
    for (reply, correct, answer, strict, flexible), v in zip(ARITH_CASES, verdicts, strict=True):
        assert (v.correct, v.extracted_answer) == (correct, answer), reply
        assert v.detail["lm_eval"]["metrics"] == {"exact_match,strict-match": strict,
                                                  "exact_match,flexible-extract": flexible}, reply
    assert verdicts[3].detail["reason"].startswith("reasoning never closed")


def test_grading_with_process_results_from_utils_py():
    capitals = bench("r1_capitals")
    fr, jp = capitals.load(LoadOptions())
    verdicts = capitals.grade([(fr, "<think>France</think>\nParis."), (jp, "<think>Japan</think>Kyoto"),
                               (jp, "<think>x</think>The capital is\ntokyo")])
    assert [v.correct for v in verdicts] == [True, False, True]
    assert verdicts[0].detail["lm_eval"]["metrics"] == {"acc,none": 1}
    assert verdicts[0].extracted_answer == "Paris."  # no filter_list: lm-eval's take_first of the reply


def test_scores_equal_lm_evals_own_evaluator():
    """The same replies scored by lm-eval's own evaluator (a scripted model as its LM) and by the bench."""
    replies = ["The answer is 5.", "I get 6", "The answer is 10"]
    results = lm_eval_on_replies("r1_arith", replies)
    theirs = {(s["doc_id"], s["filter"]): s["exact_match"] for s in results["samples"]["r1_arith"]}
    arith = bench("r1_arith")
    problems = arith.load(LoadOptions())
    ours = arith.grade(list(zip(problems, replies, strict=True)))
    for i, v in enumerate(ours):
        for filt in ("strict-match", "flexible-extract"):
            assert v.detail["lm_eval"]["metrics"][f"exact_match,{filt}"] == theirs[(i, filt)]
    # the task-level numbers lm-eval reports are the means of these per-document scores
    agg = results["results"]["r1_arith"]
    assert agg["exact_match,strict-match"] == pytest.approx(1 / 3)
    assert agg["exact_match,flexible-extract"] == pytest.approx(2 / 3)


def test_provenance_records_version_hash_and_ignored_generation_kwargs():
    from importlib.metadata import version

    arith = bench("r1_arith")
    prov = arith.provenance()
    assert prov["grader"]["name"] == "lm-eval:r1_arith"
    lm = prov["lm_eval"]
    assert lm["version"] == version("lm_eval")
    assert re.fullmatch(r"[0-9a-f]{64}", lm["config_sha256"])
    assert lm["config_sha256"] == bench("r1_arith").provenance()["lm_eval"]["config_sha256"]  # stable
    assert lm["config_sha256"] != bench("r1_capitals").provenance()["lm_eval"]["config_sha256"]
    assert lm["config_sha256"] == task_config_sha256(arith.task.dump_config())
    assert lm["primary"] == "exact_match,strict-match"
    assert lm["ignored"]["generation_kwargs"]["until"] == ["\n\n", "Question:"]


def test_bad_tasks_are_one_line_exit_2(tmp_path: Path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"problem_id": "0", "completion": "x"}) + "\n")
    tasks = tmp_path / "tasks"
    shutil.copytree(TASKS, tasks)
    (tasks / "bad.yaml").write_text("task: bad\n  output_type: [unclosed\n")  # lm-eval's index skips it
    cases = [
        ("lm-eval:r1_loglik", ["multiple_choice; r1eval runs generative tasks only"]),
        ("lm-eval:r1_arithh", ["unknown lm-eval task 'r1_arithh' (close: r1_arith",
                               f"lm-eval skipped a YAML it could not read: {tasks / 'bad.yaml'}"]),
        ("lm-eval:", ["needs a task name"]),
        ("aime24", ["--lm-eval-include only applies to lm-eval:TASK"]),
    ]
    for name, messages in cases:
        assert main(["grade", "--bench", name, "--lm-eval-include", str(tasks), "--input", str(rows)]) == 2
        err = capsys.readouterr().err
        assert all(m in err for m in messages) and "Traceback" not in err, err
    with pytest.raises(UsageError, match="graded against the task's documents"):
        grade_rows(bench("r1_arith"), [{"completion": "x", "answer": "5"}], LoadOptions())


@pytest.mark.slow
def test_run_embedded_model_then_grade_and_resume(tmp_path: Path, cli):
    """`r1eval run --bench lm-eval:r1_arith` on the embedded model (2 docs x 2 samples), then `r1eval grade`
    on its samples gives the same verdicts, and rerunning resumes with nothing to generate."""
    out = tmp_path / "run"
    args = ["run", "--bench", "lm-eval:r1_arith", "--lm-eval-include", str(TASKS), "--limit", "2", "-n", "2",
            "--max-tokens", "24", "--output", str(out), "--no-progress"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["bench"] == "lm-eval:r1_arith" and config["n"] == 2
    assert config["bench_provenance"]["lm_eval"]["task"] == "r1_arith"
    assert config["data_options"]["source"].endswith("r1_arith.yaml")
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted((s["problem_id"], s["sample_index"]) for s in samples) == [("0", 0), ("0", 1), ("1", 0), ("1", 1)]
    assert len({s["seed"] for s in samples}) == 4
    assert all("Question: What is" in s["prompt"] and "im_start" in s["prompt"] for s in samples)  # chat template
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["lm_eval_metrics"]) == {"exact_match,strict-match", "exact_match,flexible-extract"}
    assert summary["pass@1"] == sum(s["correct"] for s in samples) / 4
    assert summary["lm_eval"]["config_sha256"] == config["bench_provenance"]["lm_eval"]["config_sha256"]
    assert "cons@2" in summary and "2" in summary["pass@k"]
    graded = tmp_path / "graded.jsonl"
    proc = cli("grade", "--bench", "lm-eval:r1_arith", "--lm-eval-include", str(TASKS), "--input",
               str(out / "samples.jsonl"), "--output", str(graded))
    assert proc.returncode == 0, proc.stderr
    regraded = [json.loads(line) for line in graded.read_text().splitlines()]
    assert [(r["correct"], r["extracted_answer"]) for r in regraded] == \
        [(s["correct"], s["extracted_answer"]) for s in samples]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4
