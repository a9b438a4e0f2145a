"""Several processes (gloo on CPU): the main process's gate and time-budget decisions reach every process,
`python -m r1eval` runs, and `accelerate launch` trains one GRPO step (with gating) and one SFT step on 2
processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _follower_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """One of `world` processes: a gate step and a time-budget check; writes what this process decided."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    import torch
    import torch.distributed as dist
    from transformers import TrainerControl, TrainerState

    from r1eval.training import GateSettings
    from r1eval.training_callbacks import GateCallback, TimeBudgetCallback

    dist.init_process_group("gloo", rank=rank, world_size=world)
    gate = GateCallback(Path(out_dir) / "gate", GateSettings(benches=["held.jsonl"], every=2, stop_on_regression=True),
                        "m")

    def main_evaluation(step: int, model: object, tokenizer: object) -> dict:
        """Stands in for the harness evaluation (its decision is what is shared): a regression at `step`."""
        time.sleep(1.0)  # the other processes wait in the collective meanwhile
        return {"step": step, "scores": {"held.jsonl": 0.1}, "mean": 0.1, "best_step": 0, "regressed": ["held.jsonl"],
                "best_step_after": 0, "best_score_after": 0.5, "stop": True}

    def must_not_run(step: int, model: object, tokenizer: object) -> dict:
        raise AssertionError("only the main process evaluates")

    gate._evaluate = main_evaluation if rank == 0 else must_not_run
    state, control = TrainerState(), TrainerControl()
    state.global_step, state.is_world_process_zero = 2, rank == 0
    gate.on_step_end(None, state, control, model=torch.nn.Linear(2, 2))
    gate_decision = {"stop": control.should_training_stop, "save": control.should_save, "best_step": gate.best_step,
                     "history": gate.history, "stopped_at": gate.stopped_at}

    # only the main process's clock is over budget; every process must stop at the same step
    budget = TimeBudgetCallback(0.0 if rank == 0 else 1000.0)
    budget.on_train_begin(None, state, TrainerControl())
    control = TrainerControl()
    budget.on_step_end(None, state, control)
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps({
        "gate": gate_decision, "budget_stop": control.should_training_stop, "budget_save": control.should_save}))
    dist.destroy_process_group()


def test_main_process_decisions_reach_every_process(tmp_path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_follower_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    decisions = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert decisions[0] == decisions[1]
    gate = decisions[1]["gate"]
    assert gate["stop"] and gate["save"] and gate["best_step"] == 0 and gate["stopped_at"] == 2
    assert [h["step"] for h in gate["history"]] == [2]
    assert decisions[1]["budget_stop"] and decisions[1]["budget_save"]


def test_python_dash_m_r1eval_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "r1eval", "list"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0 and "aime24" in proc.stdout, proc.stderr


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_trains_one_grpo_step_with_gating(tmp_path) -> None:
    from r1eval.benches.arithmetic import arithmetic_problems, write_split

    data = write_split(arithmetic_problems(8, seed=3), tmp_path / "train.jsonl")
    held = write_split(arithmetic_problems(2, seed=4, prefix="held"), tmp_path / "held.jsonl")
    out = tmp_path / "run"
    # on a machine without GPUs accelerate starts several processes only with --multi_gpu (its torchrun
    # launcher); the trainer then runs them on CPU with gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
           str(_free_port()), "-m", "r1eval", "grpo", "--data", str(data), "--output", str(out), "--max-steps", "1",
           "--num-generations", "4", "--prompts-per-step", "2", "--max-completion-length", "8",
           "--gate-bench", str(held), "--gate-every", "1", "--gate-n", "1", "--gate-limit", "2",
           "--gate-max-tokens", "8",
           # checkpoints with each process's RNG and the optimizer state (tiny-cpu saves the model only)
           "--no-save-only-model"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained policy in") == 1  # printed by the main process only

    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["num_processes"] == 2
    plan = config["plan"]  # 2 prompts x 4 = 8 completions per step: 4 per process, no accumulation
    assert (plan["per_device_train_batch_size"], plan["gradient_accumulation_steps"]) == (4, 1)
    checkpoint = out / "checkpoints" / "checkpoint-1"
    assert (checkpoint / "rng_state_0.pth").is_file() and (checkpoint / "rng_state_1.pth").is_file()
    assert [json.loads(x)["step"] for x in (out / "steps.jsonl").read_text().splitlines()] == [1]
    # the main process evaluated at step 0 and step 1 (once each), and the decision is in the checkpoint
    history = [json.loads(x) for x in (out / "gate" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 1]
    stored = json.loads((checkpoint / "trainer_state.json").read_text())["stateful_callbacks"]["GateCallback"]
    assert [h["step"] for h in stored["attributes"]["history"]] == [0, 1]
    for step in ("step-000000", "step-000001"):
        assert json.loads((out / "gate" / step / "held" / "summary.json").read_text())["num_problems"] == 2
    assert (out / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_trains_one_sft_step(tmp_path) -> None:
    from r1eval.distill.filter import FilterConfig, Trace, filter_traces, write_filter_output

    reply = "<think>\nOnes: 2 + {b} = {s}.\nTens: 1 + 1 = 2.\nSo 12 + 1{b} = 2{s}.\n</think>\nThe answer is \\boxed{{2{s}}}."
    traces = [Trace(f"p{b}", [{"role": "user", "content": f"What is 12 + 1{b}?"}], f"2{b + 2}",
                    reply.format(b=b, s=b + 2), True) for b in range(1, 8)]
    kept, rejected = filter_traces(traces, FilterConfig())
    write_filter_output(tmp_path / "data", kept, rejected, FilterConfig())
    out = tmp_path / "sft"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
           str(_free_port()), "-m", "r1eval", "distill", "train", "--data", str(tmp_path / "data"), "--output",
           str(out), "--max-steps", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads((out / "config.json").read_text())["plan"]  # the tiny-cpu global batch of 8, split in two
    assert plan == {"num_processes": 2, "global_batch_size": 8, "per_device_train_batch_size": 4,
                    "gradient_accumulation_steps": 1}
    checkpoint = out / "checkpoints" / "checkpoint-1"
    assert (checkpoint / "rng_state_0.pth").is_file() and (checkpoint / "rng_state_1.pth").is_file()
    assert [json.loads(x)["step"] for x in (out / "steps.jsonl").read_text().splitlines()] == [1]
    assert (out / "model" / "model.safetensors").is_file()
