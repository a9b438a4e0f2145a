"""SFT of the embedded student: presets, prompt-completion split, one real step changes the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.filter import FilterConfig, Trace, filter_traces, write_filter_output
from distill.train import PRESETS, sft_config, to_prompt_completion

REPLY = "<think>\nOnes: 2 + 3 = 5.\nTens: 1 + 1 = 2.\nSo 12 + 13 = 25.\n</think>\nThe answer is \\boxed{25}."


def test_presets_are_the_documented_recipes(tmp_path: Path):
    r1 = PRESETS["r1-distill"]
    assert 2 <= r1.num_train_epochs <= 3
    assert r1.learning_rate == 5e-5 and r1.lr_scheduler_kwargs == {"min_lr": 5e-6}
    assert r1.lr_scheduler_type == "cosine_with_min_lr"
    assert r1.per_device_train_batch_size * r1.gradient_accumulation_steps == 128
    assert r1.max_length == 32768
    cfg = sft_config(PRESETS["tiny-cpu"], tmp_path, lora=False)
    assert cfg.completion_only_loss is True and cfg.max_length == 1024  # loss on the reply only


def test_prompt_completion_split():
    import datasets

    ds = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": "What is 12 + 13?"},
                                                   {"role": "assistant", "content": REPLY}]}])
    row = to_prompt_completion(ds)[0]
    assert row == {"prompt": [{"role": "user", "content": "What is 12 + 13?"}],
                   "completion": [{"role": "assistant", "content": REPLY}]}


@pytest.mark.slow
def test_one_sft_step_updates_weights(tmp_path: Path):
    import torch

    from distill.train import train_student
    from r1eval.models import embedded_model, load_trainable_model

    trace = Trace("p", [{"role": "user", "content": "What is 12 + 13?"}], "25", REPLY, True)
    kept, rejected = filter_traces([trace], FilterConfig())
    write_filter_output(tmp_path / "data", kept, rejected, FilterConfig())
    final = train_student(None, tmp_path / "data", tmp_path / "sft", preset="tiny-cpu",
                          overrides={"max_steps": 1, "warmup_steps": 0, "learning_rate": 1e-4})
    from transformers import AutoModelForCausalLM

    before = load_trainable_model(embedded_model()).state_dict()
    after = AutoModelForCausalLM.from_pretrained(final).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2  # a full-parameter step moves almost every tensor
    log = [json.loads(x) for x in (tmp_path / "sft" / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and log[0]["loss"] > 0
    assert json.loads((tmp_path / "sft" / "train_config.json").read_text())["global_steps"] == 1
