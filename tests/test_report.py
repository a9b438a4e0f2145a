"""`r1eval report` on small fixed run directories built from Sample records."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

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
        (path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train_log))
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


# ------------------------------------------------------------------------------------------------------
# headline, token budget, audit, training-log names, and the sample explorer in a real browser

PLANTED = "PLANTED-completion-7f3a9c"


def _browser() -> str | None:
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


needs_browser = pytest.mark.skipif(_browser() is None, reason="headless Chromium not installed (Debian: apt-get "
                                   "install chromium; .ci/run tries to install it)")


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium on `url` (fresh profile, no network services) and return its stdout."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=20000",
           *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Node:
    """An element of a parsed DOM dump."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children, self.text_parts = tag, attrs, parent, [], []

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        return "".join(part if isinstance(part, str) else part.text() for part in self.text_parts)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())]

    def visible(self) -> bool:
        node: Node | None = self
        while node is not None:
            if "hidden" in node.attrs:
                return False
            node = node.parent
        return True


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def parse_dom(markup: str) -> Node:
    """The DOM tree of Chromium's --dump-dom output (html.parser; void elements closed at once)."""
    root = Node("#root", {}, None)

    class Builder(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.node = root

        def handle_starttag(self, tag, attrs):
            child = Node(tag, dict(attrs), self.node)
            self.node.children.append(child)
            self.node.text_parts.append(child)
            if tag not in VOID:
                self.node = child

        def handle_endtag(self, tag):
            node = self.node
            while node is not root and node.tag != tag:
                node = node.parent
            if node is not root:
                self.node = node.parent

        def handle_data(self, data):
            self.node.text_parts.append(data)

    Builder().feed(markup)
    return root


def write_sampled_run(path: Path, label: str, problems: int, n: int, *, planted: tuple[int, int] | None = None,
                      reasoning_chars: int = 60) -> list[dict]:
    """A run directory whose samples have reasoning, answers, truncations and one sample without a seed."""
    rows = []
    for p in range(problems):
        for i in range(n):
            ok = (p + i) % 3 == 0
            think = f"step {p}.{i} " + "x" * reasoning_chars
            answer = PLANTED if planted == (p, i) else f"so the answer is {p if ok else -1}"
            rows.append({"problem_id": f"q{p}", "sample_index": i, "seed": 1000 * p + i,
                         "prompt": [{"role": "user", "content": f"Problem {p}: what is {p}?"}],
                         "completion": f"<think>{think}</think>\n{answer}" if i != 2 else f"<think>{think} cut off",
                         "extracted_answer": str(p) if ok else (None if i == 2 else "-1"), "correct": ok,
                         "completion_tokens": 40 + i, "finish_reason": "length" if i == 2 else "stop", "gold": str(p),
                         "detail": {}})
    del rows[1]["seed"]  # another tool's row: no seed
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"bench": "toy", "model": f"model-{label}", "label": label}))
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = [Sample.from_dict({**r, "seed": r.get("seed", 0)}) for r in rows]
    (path / "summary.json").write_text(json.dumps(summarize(samples, bench="toy", model=f"model-{label}", n=n,
                                                            equivalent=lambda a, b: a == b)))
    return rows


def test_report_headline_budget_audit_and_steps_log(tmp_path: Path):
    make_run(tmp_path / "base", "base", lambda p, i: p % 3 == 0)
    make_run(tmp_path / "rl", "rl", lambda p, i: p % 2 == 0)
    summary = json.loads((tmp_path / "rl" / "summary.json").read_text())
    summary["pass@1_at_budget"] = {"2048": 0.4, "1024": 0.25, "4096": 0.5}
    (tmp_path / "rl" / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "rl" / "audit_summary.json").write_text(json.dumps(
        {"num_samples": 120, "num_disagreements": 7, "graders": ["math-verify", "sympy"],
         "agreement": {"math-verify vs sympy": 0.94}, "by_kind": {"format": 7}}))
    (tmp_path / "rl" / "steps.jsonl").write_text("".join(json.dumps({"step": s, "reward": 0.1 * s}) + "\n"
                                                         for s in range(1, 4)))
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(out)]) == 0
    for name in ("headline.png", "budget_toy.png", "training_rl_toy.png", "explorer.html"):
        assert (out / name).stat().st_size > 1000, name
    report = json.loads((out / "report.json").read_text())
    rl = next(r for r in report["results"] if r["label"] == "rl")
    assert rl["disagreements"] == 7 and rl["pass@1_at_budget"] == {"1024": 0.25, "2048": 0.4, "4096": 0.5}
    assert next(r for r in report["results"] if r["label"] == "base")["disagreements"] is None
    md = (out / "report.md").read_text()
    assert md.index("headline.png") < md.index("## Results") and "(explorer.html)" in md
    row = next(line for line in md.splitlines() if line.startswith("| toy") and "rl (" in line)
    assert row.rstrip(" |").endswith("| 7")
    assert "budget_toy.png" in report["plots"]["toy"]


@pytest.mark.browser
@needs_browser
def test_report_in_chromium(tmp_path: Path):
    """report.html rendered by headless Chromium: the DOM holds the figures at full width, the tables and the
    explorer link; a screenshot is written (the explorer's own browser tests: tests/test_explorer.py)."""
    write_sampled_run(tmp_path / "base", "base", 4, 4, planted=(2, 1))
    write_sampled_run(tmp_path / "rl", "rl", 4, 4)
    summary = json.loads((tmp_path / "rl" / "summary.json").read_text())
    summary["pass@1_at_budget"] = {"1024": 0.2, "2048": 0.3}
    (tmp_path / "rl" / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "rl" / "audit_summary.json").write_text(json.dumps({"num_samples": 16, "num_disagreements": 3}))
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(out)]) == 0

    dom = parse_dom(chromium(tmp_path, (out / "report.html").as_uri(), "--dump-dom"))
    images = {img.attrs.get("src") for img in dom.find_all("img")}
    assert {"headline.png", "budget_toy.png", "pass_at_k_toy.png", "lengths_toy.png"} <= images
    assert "img{width:100%" in (out / "report.html").read_text()
    headers = [th.text().strip() for th in dom.find_all("th")]
    assert "audit disagreements" in headers
    assert any(a.attrs.get("href") == "explorer.html" for a in dom.find_all("a"))
    chromium(tmp_path, (out / "report.html").as_uri(), f"--screenshot={out / 'report_screenshot.png'}",
             "--window-size=1200,1600")
    assert (out / "report_screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
