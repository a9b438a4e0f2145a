"""docs/extending.md's worked example runs as shown: its bench and backend register and evaluate through
the real `r1eval run` (run directory, grading, summary), and the registries are left as they were."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from r1eval.backends import REGISTRY as BACKENDS
from r1eval.benches import REGISTRY as BENCHES

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.fixture
def registries_restored():
    benches, backends = dict(BENCHES), dict(BACKENDS)
    yield
    BENCHES.clear()
    BENCHES.update(benches)
    BACKENDS.clear()
    BACKENDS.update(backends)


def test_the_worked_example_runs(tmp_path: Path, monkeypatch, capsys, registries_restored) -> None:
    bench_code, backend_code, run_code = python_blocks()
    namespace: dict = {"__name__": "extending_example"}
    exec(bench_code, namespace)
    exec(backend_code, namespace)
    assert BENCHES["addition"].has_gold and BACKENDS["replay"].is_server
    monkeypatch.chdir(tmp_path)
    rows = [("add-12-30", "<think>12 + 30 = 42</think> 42"), ("add-12-30", "<think>carry</think> 41"),
            ("add-7-8", "<think>7 + 8</think> The sum is 15."), ("add-40-2", "<think>still thinking about 42")]
    Path("replies.jsonl").write_text("".join(json.dumps({"problem_id": p, "completion": c}) + "\n" for p, c in rows))
    exec(run_code, namespace)
    assert "error" not in capsys.readouterr().err
    run = tmp_path / "runs" / "addition-replay"
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    verdicts = {(s["problem_id"], s["sample_index"]): (s["extracted_answer"], s["correct"]) for s in samples}
    assert verdicts == {("add-12-30", 0): ("42", True), ("add-12-30", 1): ("41", False),
                        ("add-7-8", 0): ("15", True), ("add-7-8", 1): ("15", True),
                        ("add-40-2", 0): (None, False), ("add-40-2", 1): (None, False)}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pass@1"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert json.loads((run / "config.json").read_text())["backend"] == "replay"
