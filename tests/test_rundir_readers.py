"""Readers of run directories: `r1eval report`, `r1eval gate` and `r1eval distill filter` on rows without a
`seed`; the distillation filter pairs each GPQA trace with the choice order its sample saw."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from r1eval.benches import LoadOptions, get_bench
from r1eval.cli import main
from r1eval.metrics import summarize
from r1eval.models import ModelSpec
from r1eval.records import SamplingParams, sample_seed
from r1eval.rundir import RunDir
from r1eval.runner import RunSpec, build_config

THINK = "<think>\nAdd the ones, then the tens: the sum is 85.\n</think>\nThe answer is \\boxed{85}."


def toy_run(path: Path, correct_every: int) -> None:
    """A math run directory on a one-line problem file, then every row's `seed` removed (as a tool other
    than `r1eval run`, or an older version, might write it)."""
    from r1eval.benches.math import MathBench

    data = path.parent / "toy.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "problem": f"What is {i} + 85 - {i}?", "answer": "85"}) + "\n"
                            for i in range(6)))
    bench = MathBench("toy", "toy", path=data)
    problems = bench.load(LoadOptions(data=data))
    spec = RunSpec(bench=bench, model=ModelSpec("m", "hub", "m/m"), params=SamplingParams(n=2), backend="scripted",
                   load=LoadOptions(data=data))
    rd = RunDir(path)
    rd.open(build_config(spec, problems, problems))
    from r1eval.records import Sample

    samples = [Sample(p.id, i, sample_seed(0, p.id, i), p.messages, THINK if (k + i) % correct_every == 0 else "no",
                      "85", (k + i) % correct_every == 0, 20 + i, "stop", "85")
               for k, p in enumerate(problems) for i in range(2)]
    rd.append(samples)
    rd.close()
    rd.write_summary(summarize(samples, bench="toy", model="m", n=2, equivalent=None))
    rows = [json.loads(ln) for ln in rd.samples_path.read_text().splitlines()]
    rd.samples_path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "seed"}) + "\n" for r in rows))


def test_report_gate_and_distill_filter_read_rows_without_seed(tmp_path: Path, capsys) -> None:
    toy_run(tmp_path / "base", correct_every=3)
    toy_run(tmp_path / "cand", correct_every=1)
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "cand"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()
    assert main(["gate", "--baseline", str(tmp_path / "base"), "--candidate", str(tmp_path / "cand"),
                 "--mode", "non-inferior"]) == 0
    assert main(["distill", "filter", "--input", str(tmp_path / "cand"), "--output", str(tmp_path / "kept")]) == 0
    kept = [json.loads(ln) for ln in (tmp_path / "kept" / "kept.jsonl").read_text().splitlines()]
    assert len(kept) == 6 and all(r["seed"] is None for r in kept)  # the second copy of each reply: duplicate
    assert "error" not in capsys.readouterr().err


FAKE = [  # our own questions in the GPQA CSV columns (never GPQA text)
    {"Record ID": f"f{i}", "Question": f"Which number is {i}?", "Correct Answer": str(i),
     "Incorrect Answer 1": str(i + 1), "Incorrect Answer 2": str(i + 2), "Incorrect Answer 3": str(i + 3)}
    for i in range(3)
]


def test_distill_filter_pairs_each_gpqa_trace_with_the_choice_order_its_sample_saw(tmp_path: Path) -> None:
    from r1eval.distill.filter import load_traces

    data = tmp_path / "fake.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FAKE[0]))
        writer.writeheader()
        writer.writerows(FAKE)
    bench = get_bench("gpqa_diamond")
    problems = bench.load(LoadOptions(data=data))
    params = SamplingParams(n=4, seed=7)
    spec = RunSpec(bench=bench, model=ModelSpec("m", "hub", "m/m"), params=params, backend="scripted",
                   load=LoadOptions(data=data))
    rd = RunDir(tmp_path / "run")
    rd.open(build_config(spec, problems, problems))
    from r1eval.records import Sample

    shown = {}
    samples = []
    for p in problems:
        for i in range(params.n):
            seed = sample_seed(params.seed, p.id, i)
            q = bench.sample_problem(p, i, seed)
            shown[(p.id, i)] = q.messages
            letter = "ABCD"[q.meta["order"].index(0)]  # the correct choice, as this sample saw it
            text = f"<think>\nThe number asked for is listed.\n</think>\nAnswer: {letter}"
            verdict = bench.grade([(q, text)])[0]
            assert verdict.correct
            samples.append(Sample(p.id, i, seed, q.messages, text, verdict.extracted_answer, True, 12, "stop",
                                  p.gold, verdict.detail))
    rd.append(samples)
    rd.close()
    traces, _ = load_traces(tmp_path / "run")
    assert len(traces) == 12
    for t in traces:
        assert t.messages == shown[(t.problem_id, t.source["sample_index"])]
    reference = {p.id: p.messages for p in problems}
    assert any(t.messages != reference[t.problem_id] for t in traces)  # the orders really differ
    # the answer letter in each kept trace's reply points at the right choice in the prompt it is paired with
    for t in traces:
        letter = t.completion.rsplit("Answer: ", 1)[1]
        line = next(ln for ln in t.messages[-1]["content"].splitlines() if ln.startswith(f"{letter})"))
        assert line.split(")", 1)[1].strip() == FAKE[int(t.problem_id.removeprefix("f"))]["Correct Answer"]
    # rows without their seed: the run's seeding rule gives the same pairing
    rows = [json.loads(ln) for ln in rd.samples_path.read_text().splitlines()]
    rd.samples_path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "seed"}) + "\n" for r in rows))
    again, _ = load_traces(tmp_path / "run")
    assert [t.messages for t in again] == [t.messages for t in traces]
