"""`r1eval report` on small fixed run directories built from Sample records."""

from __future__ import annotations

import json
import re
from pathlib import Path

from r1eval.cli import main
from r1eval.metrics import summarize
from r1eval.records import Sample
from r1eval.report import fmt
from r1eval.rundir import RunDir

N = 4
PROBLEMS = 30


def make_run(path: Path, label: str | None, correct_fn, *, train_log: list[dict] | None = None,
             length: int = 50) -> dict:
    """A run directory whose sample (p, i) is correct iff correct_fn(p, i); returns its summary."""
    run = RunDir(path)
    run.open({"bench": "toy", "model": f"model-{label}", **({"label": label} if label else {})})
    samples = []
    for p in range(PROBLEMS):
        for i in range(N):
            ok = correct_fn(p, i)
            samples.append(Sample(f"q{p}", i, p * 10 + i, "prompt", "reply", str(p if ok else -1 - i), ok,
                                  length + p + i, "length" if (p + i) % 17 == 0 else "stop", str(p)))
    run.append(samples)
    run.close()
    summary = summarize(samples, bench="toy", model=f"model-{label}", n=N, equivalent=lambda a, b: a == b)
    run.write_summary(summary)
    if train_log:
        (path / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train_log))
    return summary


def table_rows(md: str) -> dict[str, list[str]]:
    """Results-table rows of report.md keyed by the model cell's label."""
    section = md.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| toy"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[1].split(" (")[0]] = cells
    return rows


def test_report_files_plots_and_numbers_equal_summaries(tmp_path: Path):
    base = make_run(tmp_path / "base", "base", lambda p, i: p % 3 == 0 and i < 2)
    distilled = make_run(tmp_path / "sft", None, lambda p, i: p % 5 != 0,
                         train_log=[{"step": s, "loss": 2.0 / s, "learning_rate": 1e-4} for s in range(1, 6)])
    rl = make_run(tmp_path / "rl", "rl", lambda p, i: p % 3 == 0 and i < 2 or (p == 1 and i == 0),
                  train_log=[{"step": s, "kl": 0.01 * s, "completion_length": 40 + s,
                              "rewards": {"accuracy": 0.1 * s, "format": 0.5}} for s in range(1, 6)], length=30)
    out = tmp_path / "report"
    rc = main(["report", str(tmp_path / "base"), str(tmp_path / "sft"), str(tmp_path / "rl"), "--out", str(out),
               "--label", f"{tmp_path / 'sft'}=distilled"])
    assert rc == 0
    for name in ("report.md", "report.html", "report.json", "pass_at_k_toy.png", "lengths_toy.png",
                 "training_distilled_toy.png", "training_rl_toy.png"):
        data = (out / name).read_bytes()
        assert len(data) > 200, name
        if name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    rows = table_rows(md)
    assert set(rows) == {"base", "distilled", "rl"}
    for label, summary in (("base", base), ("distilled", distilled), ("rl", rl)):
        cells = rows[label]
        assert cells[3] == fmt(summary["pass@1"])
        assert cells[4] == f"{fmt(summary['pass@1_ci95'][0])} - {fmt(summary['pass@1_ci95'][1])}"
        assert cells[5] == fmt(summary[f"cons@{N}"])
        assert cells[6].startswith(fmt(summary["pass@k"][str(N)]))
        assert cells[7] == f"{summary['mean_completion_tokens']:.1f}"
    report = json.loads((out / "report.json").read_text())
    for row, summary in zip(report["results"], (base, distilled, rl), strict=True):
        assert row["pass@1"] == summary["pass@1"] and row["cons"] == summary[f"cons@{N}"]
    # the ablation: distilled (0.8) vs base (~0.17) is significant; rl differs from base by one sample: not
    assert "## Distillation vs RL ablation" in md
    line = next(x for x in md.splitlines() if x.startswith("- toy: distilled vs base"))
    assert "**significant**" in line
    line = next(x for x in md.splitlines() if x.startswith("- toy: rl vs base"))
    assert "not significant" in line
    comp = {(c["candidate"], c["baseline"]): c for c in report["comparisons"]}
    assert abs(comp[("distilled", "base")]["diff"] - (distilled["pass@1"] - base["pass@1"])) < 1e-12
    html = (out / "report.html").read_text()
    assert "<table>" in html and 'src="pass_at_k_toy.png"' in html


def test_report_bad_label_is_one_line_exit_2(tmp_path: Path, capsys):
    make_run(tmp_path / "a", "base", lambda p, i: True)
    assert main(["report", str(tmp_path / "a"), "--out", str(tmp_path / "o"), "--label", "nolabel"]) == 2
    assert "expected DIR=NAME" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert re.search(r"not a run directory", capsys.readouterr().err)
