"""SFT of the embedded student: presets and their batch plan on 1, 2 and 8 processes (--dry-run),
prompt-completion split, one real step changes the weights, and a rerun continues from the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1eval.cli import main
from r1eval.distill.filter import FilterConfig, Trace, filter_traces, write_filter_output
from r1eval.distill.train import PRESETS, sft_config, to_prompt_completion

REPLY = "<think>\nOnes: 2 + 3 = 5.\nTens: 1 + 1 = 2.\nSo 12 + 13 = 25.\n</think>\nThe answer is \\boxed{25}."


def test_presets_are_the_documented_recipes(tmp_path: Path):
    r1 = PRESETS["r1-distill"]
    assert 2 <= r1.num_train_epochs <= 3
    assert r1.learning_rate == 5e-5 and r1.lr_scheduler_kwargs == {"min_lr": 5e-6}
    assert r1.lr_scheduler_type == "cosine_with_min_lr"
    assert r1.global_batch_size == 128 and r1.max_length == 32768
    cfg = sft_config(PRESETS["tiny-cpu"], tmp_path, lora=False)
    assert cfg.completion_only_loss is True and cfg.max_length == 1024  # loss on the reply only
    assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 8


@pytest.mark.parametrize("processes", [1, 2, 8])
def test_distill_dry_run_keeps_the_global_batch(processes: int, capsys):
    assert main(["distill", "train", "--preset", "r1-distill", "--dry-run", "--num-processes", str(processes)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["global_batch_size"] == 128 and plan["num_processes"] == processes
    assert processes * plan["per_device_train_batch_size"] * plan["gradient_accumulation_steps"] == 128
    sft = plan["sft_config"]  # the full SFTConfig.to_dict()
    assert sft["per_device_train_batch_size"] == 4 and sft["gradient_accumulation_steps"] == 32 // processes
    assert sft["learning_rate"] == 5e-5 and sft["max_length"] == 32768 and sft["completion_only_loss"] is True
    assert main(["distill", "train", "--preset", "r1-distill", "--dry-run", "--num-processes", "3"]) == 2
    err = capsys.readouterr().err
    assert "over 3 processes" in err and len(err.strip().splitlines()) == 1


def test_prompt_completion_split():
    import datasets

    ds = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": "What is 12 + 13?"},
                                                   {"role": "assistant", "content": REPLY}]}])
    row = to_prompt_completion(ds)[0]
    assert row == {"prompt": [{"role": "user", "content": "What is 12 + 13?"}],
                   "completion": [{"role": "assistant", "content": REPLY}]}


@pytest.mark.slow
def test_one_sft_step_updates_weights_and_a_rerun_continues(tmp_path: Path):
    import torch

    from r1eval.distill.train import train_student
    from r1eval.errors import UsageError
    from r1eval.models import embedded_model, load_trainable_model

    trace = Trace("p", [{"role": "user", "content": "What is 12 + 13?"}], "25", REPLY, True)
    kept, rejected = filter_traces([trace], FilterConfig())
    write_filter_output(tmp_path / "data", kept, rejected, FilterConfig())
    overrides = {"max_steps": 1, "warmup_steps": 0, "learning_rate": 1e-4}
    final = train_student(None, tmp_path / "data", tmp_path / "sft", preset="tiny-cpu", overrides=overrides)
    from transformers import AutoModelForCausalLM

    before = load_trainable_model(embedded_model()).state_dict()
    after = AutoModelForCausalLM.from_pretrained(final).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2  # a full-parameter step moves almost every tensor
    log_text = (tmp_path / "sft" / "steps.jsonl").read_text()
    log = [json.loads(x) for x in log_text.splitlines()]
    assert [r["step"] for r in log] == [1] and log[0]["loss"] > 0 and "learning_rate" in log[0]
    assert json.loads((tmp_path / "sft" / "result.json").read_text())["global_steps"] == 1

    with pytest.raises(UsageError, match="learning_rate"):  # changed settings are refused
        train_student(None, tmp_path / "data", tmp_path / "sft", overrides={**overrides, "learning_rate": 1e-3})
    # the same command with a larger max_steps continues from checkpoint-1: one more step, log appended
    train_student(None, tmp_path / "data", tmp_path / "sft", overrides={**overrides, "max_steps": 2})
    new_text = (tmp_path / "sft" / "steps.jsonl").read_text()
    assert new_text.startswith(log_text) and [json.loads(x)["step"] for x in new_text.splitlines()] == [1, 2]
    optimizer = torch.load(tmp_path / "sft" / "checkpoints" / "checkpoint-2" / "optimizer.pt", weights_only=False)
    assert all(int(m["step"]) == 2 for m in optimizer["state"].values())  # the checkpoint's optimizer went on
    config = json.loads((tmp_path / "sft" / "config.json").read_text())
    assert config["kind"] == "sft" and config["resumes"][0]["from_step"] == 1
    # rerunning a finished run trains nothing more (Trainer alone would run one more step)
    train_student(None, tmp_path / "data", tmp_path / "sft", overrides={**overrides, "max_steps": 2})
    assert (tmp_path / "sft" / "steps.jsonl").read_text() == new_text
