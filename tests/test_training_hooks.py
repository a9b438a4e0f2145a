"""Training hooks through public API: the GRPO phase timer (reward functions wrapped, callbacks marking the
micro-batches) splits a step into generation, reward and update and prints progress; the final model and
the last checkpoint share one copy of identical files; the gate's best model is a hard-linked copy."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

from transformers import TrainerControl, TrainerState

from r1eval.rl.callbacks import GRPOPhaseTimer
from r1eval.training import link_identical_files


def test_phase_timer_splits_a_step_and_prints_progress() -> None:
    out = io.StringIO()
    timer = GRPOPhaseTimer(stream=out)

    def accuracy(prompts, completions, **kwargs):
        time.sleep(0.05)
        return [1.0] * len(completions)

    def fmt(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    rewards = [timer.wrap(accuracy), timer.wrap(fmt)]
    assert [r.__name__ for r in rewards] == ["accuracy", "fmt"]  # TRL names the metrics after them
    state, control = TrainerState(), TrainerControl()
    state.global_step, state.max_steps, state.is_world_process_zero = 0, 3, True
    timer.on_step_begin(None, state, control)
    time.sleep(0.2)  # sampling
    for reward in rewards:
        assert reward(prompts=["p"] * 4, completions=["c"] * 4) in ([1.0] * 4, [0.0] * 4)
    timer.on_substep_end(None, state, control)  # a second micro-batch of the same round: no generation
    time.sleep(0.1)  # its forward/backward
    state.global_step = 1
    timer.on_step_end(None, state, control)
    times = timer.step_times(1)  # lower bounds only: a loaded machine only adds time
    assert times["time_generation"] >= 0.2 and times["time_reward"] >= 0.05
    assert times["time_generation"] < 0.2 + 0.05 + 0.1 + 5  # the reward and the update are not generation
    assert timer.step_times(1) == {}  # handed out once
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\[grpo\] step 1/3: 4 rollouts in \d+\.\d s; scoring", lines[0]), lines
    assert re.fullmatch(r"\[grpo\] step 1/3: rewards in \d+\.\d\d s; updating", lines[1]), lines
    done = re.fullmatch(r"\[grpo\] step 1/3: done in ([\d.]+) s \(generation ([\d.]+), reward ([\d.]+), update "
                        r"([\d.]+)\)", lines[2])
    assert done and float(done[4]) >= 0.1 and float(done[2]) == round(times["time_generation"], 1)
    state.is_world_process_zero = False  # other processes time but do not print
    timer.on_step_begin(None, state, control)
    timer.on_step_end(None, state, control)
    assert len(out.getvalue().splitlines()) == 3 and timer.step_times(1)["time_generation"] == 0.0


def test_identical_files_are_hard_linked_once(tmp_path: Path) -> None:
    final, checkpoint = tmp_path / "final", tmp_path / "checkpoint-2"
    final.mkdir()
    checkpoint.mkdir()
    for d in (final, checkpoint):
        (d / "model.safetensors").write_bytes(b"w" * 1000)
    (final / "tokenizer.json").write_text("{}")
    (checkpoint / "tokenizer.json").write_text('{"other": 1}')  # differs: stays a file of its own
    assert link_identical_files(final, checkpoint) == 1
    assert (final / "model.safetensors").samefile(checkpoint / "model.safetensors")
    assert os.stat(final / "model.safetensors").st_nlink == 2 and (final / "tokenizer.json").read_text() == "{}"
    assert link_identical_files(final, None) == 0 and link_identical_files(final, checkpoint) == 0
