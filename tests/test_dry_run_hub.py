"""A `--dry-run` loads no model, so a hub id it names need not be downloaded; a real run still checks it."""

from __future__ import annotations

import json
from pathlib import Path

from r1eval.cli import main


def test_grpo_dry_run_plans_for_a_hub_id_that_is_not_downloaded(capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["grpo", "--model", "nobody-org/not-downloaded", "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["config"]["model"] == "nobody-org/not-downloaded"


def test_grpo_real_run_still_refuses_a_hub_id_that_is_not_downloaded(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    code = main(["grpo", "--model", "nobody-org/not-downloaded", "--data", str(data), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "nobody-org/not-downloaded" in err and "local Hugging Face cache" in err
