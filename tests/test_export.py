"""`r1eval export`: parquet read back with pandas; the lm-eval layout read with lm-eval's own tooling and
compared with the files lm-eval itself writes for the same replies (EvaluationTracker)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.cli import main
from r1eval.metrics import summarize
from r1eval.records import Sample, sample_seed
from r1eval.rundir import RunDir
from tests.lm_eval_scripted import TASKS, lm_eval_on_replies

CREATED = "2025-02-03T04:05:06+0000"
# replies to r1_arith's three documents (gold 5, 6, 9), as a model without reasoning tags would give them
ARITH_REPLIES = ["The answer is 5.", "I get 6", "The answer is 10"]


def write_run(path: Path, bench, replies: dict[str, list[str]], model: str = "scripted-model") -> dict:
    """A run directory as `r1eval run` leaves it (config.json, graded samples.jsonl, summary.json), with given
    replies in place of generated ones."""
    opts = LoadOptions()
    problems = {p.id: p for p in bench.load(opts)}
    n = max(len(v) for v in replies.values())
    samples = []
    for pid, texts in replies.items():
        problem = problems[pid]
        for i, (text, v) in enumerate(zip(texts, bench.grade([(problem, t) for t in texts]), strict=True)):
            samples.append(Sample(pid, i, sample_seed(0, pid, i), problem.messages[-1]["content"], text,
                                  v.extracted_answer, v.correct, len(text.split()), "length" if i == 3 else "stop",
                                  problem.gold, v.detail))
    config = {"bench": bench.name, "model": model, "data": "bundled", "data_options": dict(opts.extra), "n": n,
              "temperature": 0.6, "top_p": 0.95, "max_tokens": 64, "seed": 0, "force_think": False,
              "bench_provenance": bench.provenance(), "backend": "transformers", "versions": {"transformers": "5"},
              "git_commit": "abc123", "created": CREATED}
    run = RunDir(path)
    run.open(config)
    run.append(samples)
    run.close()
    summary = summarize(samples, bench=bench.name, model=model, n=n, equivalent=bench.equivalent)
    summary.update(bench.extra_summary(summary, samples, list(problems.values())))
    summary.update(config["bench_provenance"])
    run.write_summary(summary)
    return summary


@pytest.fixture
def math_run(tmp_path: Path) -> tuple[Path, dict]:
    bench = get_bench("aime24")
    replies = {"60": ["<think>x</think>\\boxed{204}", "\\boxed{204}", "\\boxed{3}", "<think>no end"],
               "61": ["\\boxed{25}", "\\boxed{1}", "\\boxed{1}", "\\boxed{2}"],
               "62": ["\\boxed{1}", "\\boxed{2}", "\\boxed{3}", "\\boxed{4}"]}
    problems = {p.id: p for p in bench.load(LoadOptions())}
    assert set(replies) <= set(problems)
    return tmp_path / "run", write_run(tmp_path / "run", bench, replies)


def test_parquet_one_row_per_sample_with_run_settings(math_run, tmp_path):
    run, summary = math_run
    with (run / "samples.jsonl").open("a") as fh:  # a row from another tool: no seed, an extra field
        fh.write(json.dumps({"problem_id": "63", "sample_index": 0, "completion": "\\boxed{7}", "correct": False,
                             "note": {"source": "elsewhere"}}) + "\n")
    assert main(["export", str(run), "--format", "parquet"]) == 0
    df = pd.read_parquet(run / "samples.parquet")
    raw = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert len(df) == len(raw) == 13
    assert df["problem_id"].tolist() == [r["problem_id"] for r in raw]
    assert df["correct"].tolist() == [r["correct"] for r in raw]
    assert df["seed"].tolist()[:12] == [r["seed"] for r in raw[:12]] and pd.isna(df["seed"].iloc[12])
    assert json.loads(df["note"].iloc[12]) == {"source": "elsewhere"}
    config = json.loads((run / "config.json").read_text())
    assert (df["temperature"] == 0.6).all() and (df["bench"] == "aime24").all()
    assert (df["run_seed"] == config["seed"]).all()  # the base seed; `seed` is each sample's own
    assert json.loads(df["bench_provenance"].iloc[0]) == config["bench_provenance"]
    assert json.loads(df["detail"].iloc[0]) == raw[0]["detail"]
    scored = df.iloc[:12]
    assert scored.groupby("problem_id")["correct"].mean().mean() == pytest.approx(summary["pass@1"])


def test_lm_eval_layout_for_an_r1eval_bench(math_run, tmp_path):
    pytest.importorskip("lm_eval")
    from lm_eval.utils import (
        get_file_task_name,
        get_results_filenames,
        get_sample_results_filenames,
        make_table,
    )

    run, summary = math_run
    out = tmp_path / "export"
    assert main(["export", str(run), "--format", "lm-eval", "--out", str(out)]) == 0
    files = [p.as_posix() for p in (out / "scripted-model").iterdir()]
    [results_file] = get_results_filenames(files)
    [samples_file] = get_sample_results_filenames(files)
    assert get_file_task_name(Path(samples_file).name) == "aime24"
    assert Path(results_file).name == "results_2025-02-03T04-05-06.json"  # the run's creation time
    results = json.loads(Path(results_file).read_text())
    metrics = results["results"]["aime24"]
    assert metrics["pass@1,none"] == pytest.approx(summary["pass@1"])
    assert metrics["pass@4,none"] == pytest.approx(summary["pass@k"]["4"])
    assert metrics["cons@4,none"] == pytest.approx(summary["cons@4"])
    per_problem = [r["pass@1"] for r in summary["per_problem"]]
    mean = sum(per_problem) / 3
    assert metrics["pass@1_stderr,none"] == pytest.approx((sum((v - mean) ** 2 for v in per_problem) / 2 / 3) ** 0.5)
    table = make_table(results)
    assert "pass@1" in table and f"{summary['pass@1']:.4f}" in table
    rows = [json.loads(x) for x in Path(samples_file).read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == [60, 61, 62] and {r["filter"] for r in rows} == {"none"}
    first = rows[0]
    assert len(first["resps"]) == len(first["arguments"]) == 4  # the n samples are n requests
    assert first["filtered_resps"] == ["204", "204", "3", ""]
    assert first["pass@1"] == 0.5 and first["target"] == "204"


def test_lm_eval_export_matches_the_files_lm_eval_writes(tmp_path):
    """lm-eval's simple_evaluate + EvaluationTracker on the same replies (a scripted model as its LM) versus the
    export of an r1eval run of the same task: same files, keys, documents, hashes and scores."""
    pytest.importorskip("lm_eval")
    import datasets
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import get_latest_filename, get_results_filenames, get_sample_results_filenames

    res = lm_eval_on_replies("r1_arith", ARITH_REPLIES)
    tracker = EvaluationTracker(output_path=str(tmp_path / "lm-eval-own"))
    their_samples = res.pop("samples")
    tracker.general_config_tracker.model_name_sanitized = "scripted"
    tracker.save_results_aggregated(results=res, samples=their_samples)
    tracker.save_results_samples(task_name="r1_arith", samples=their_samples["r1_arith"])
    theirs_dir = tmp_path / "lm-eval-own" / "scripted"

    bench = get_bench("lm-eval:r1_arith", TASKS)
    write_run(tmp_path / "run", bench, {str(i): [reply] for i, reply in enumerate(ARITH_REPLIES)})
    ours_dir = Path(tmp_path / "ours" / "scripted-model")
    assert main(["export", str(tmp_path / "run"), "--format", "lm-eval", "--out", str(tmp_path / "ours")]) == 0

    def load(directory: Path) -> tuple[dict, list[dict], Path]:
        files = [p.as_posix() for p in directory.iterdir()]
        results = json.loads(Path(get_latest_filename(get_results_filenames(files))).read_text())
        samples_file = Path(get_sample_results_filenames(files)[0])
        return results, [json.loads(x) for x in samples_file.read_text().splitlines()], samples_file

    their_results, their_rows, _ = load(theirs_dir)
    our_results, our_rows, our_samples_file = load(ours_dir)
    assert set(their_results) <= set(our_results), set(their_results) - set(our_results)
    for key in ("exact_match,strict-match", "exact_match,flexible-extract"):
        assert our_results["results"]["r1_arith"][key] == pytest.approx(their_results["results"]["r1_arith"][key])
    assert our_results["versions"] == their_results["versions"] and our_results["n-shot"] == their_results["n-shot"]
    theirs = {(r["doc_id"], r["filter"]): r for r in their_rows}
    ours = {(r["doc_id"], r["filter"]): r for r in our_rows}
    assert set(theirs) == set(ours)
    for key, row in theirs.items():
        mine = ours[key]
        assert set(row) <= set(mine), set(row) - set(mine)
        for field in ("doc", "target", "filtered_resps", "resps", "exact_match", "doc_hash", "target_hash"):
            assert mine[field] == row[field], (key, field)
        assert set(row["metrics"]) < set(mine["metrics"]) == {"exact_match", "pass@1", "cons@1"}
        assert mine["pass@1"] == row["exact_match"]  # one sample per document: pass@1 is its exact_match
    assert our_results["results"]["r1_arith"]["pass@1,strict-match"] == pytest.approx(1 / 3)  # the primary filter
    # what scripts/zeno_visualize.py (EleutherAI/lm-evaluation-harness) reads from a results + samples pair
    config = our_results["configs"]["r1_arith"]
    assert config["output_type"] == "generate_until"
    for row in our_rows:
        assert isinstance(row["arguments"]["gen_args_0"]["arg_0"], str) and str(row["filtered_resps"][0]) is not None
        for metric in config["metric_list"]:
            assert metric["aggregation"] == "mean" and metric["metric"] in row
    # the hub "details" datasets are read with `datasets` JSON loading, as EvaluationTracker's card does
    loaded = datasets.load_dataset("json", data_files=str(our_samples_file), split="train")
    assert len(loaded) == len(our_rows) == 6  # 3 documents x 2 filters


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "parquet"]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--format", "csv"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_lm_eval_task_with_several_samples_per_document(tmp_path):
    """Each filter gets pass@1, pass@k and cons@n from its own answers and the task's metric under it; the
    primary filter's equal the run's summary."""
    pytest.importorskip("lm_eval")
    bench = get_bench("lm-eval:r1_arith", TASKS)
    summary = write_run(tmp_path / "run", bench, {
        "0": ["<think>a</think>The answer is 5.", "<think>b</think>I get 5", "<think>c</think>It is 5"],
        "1": ["<think>a</think>The answer is 6", "<think>b</think>The answer is 7", "<think>unclosed 6"]})
    assert main(["export", str(tmp_path / "run"), "--format", "lm-eval"]) == 0
    model_dir = tmp_path / "run" / "lm-eval" / "scripted-model"
    results = json.loads(next(model_dir.glob("results_*.json")).read_text())["results"]["r1_arith"]
    assert results["pass@1,strict-match"] == pytest.approx(summary["pass@1"]) == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert results["cons@3,strict-match"] == pytest.approx(summary["cons@3"])
    assert results["pass@1,flexible-extract"] == pytest.approx((3 / 3 + 1 / 3) / 2)  # "I get 5", "It is 5" count
    assert results["cons@3,flexible-extract"] == 1.0  # 5,5,5 and 6,7,(unclosed): the first class wins ties
    assert results["exact_match,flexible-extract"] == pytest.approx((1 + 1 / 3) / 2)
    assert results["pass@2,flexible-extract"] == pytest.approx((1 + 2 / 3) / 2)
