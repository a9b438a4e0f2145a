"""The TrainerCallbacks `r1eval grpo` and `r1eval distill train` share: the steps.jsonl log, the wall-time
budget and the harness gate. This module imports transformers, so training code imports it when it builds a
trainer (the rest of `r1eval.training` stays light for the command line)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from r1eval.gate import compare_runs
from r1eval.rundir import write_json
from r1eval.training import GateSettings, evaluate_policy, save_policy, share_from_main


class StepLogCallback(TrainerCallback):
    """Append `{"step", "time", **to_row(logs + extra(step))}` to steps.jsonl for every log line that `to_row`
    accepts (it returns None for the end-of-training summary and evaluation logs); main process only. `extra`
    adds what another callback measured for that step (e.g. `rl.callbacks.GRPOPhaseTimer.step_times`)."""

    def __init__(self, path: Path, to_row: Callable[[dict[str, Any]], dict[str, Any] | None],
                 extra: Callable[[int], dict[str, Any]] | None = None) -> None:
        self.path, self.to_row, self.extra = Path(path), to_row, extra

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        row = self.to_row({**logs, **(self.extra(state.global_step) if self.extra else {})})
        if row is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, "time": time.time(), **row}) + "\n")


class TimeBudgetCallback(TrainerCallback):
    """Stop training (saving a checkpoint, so a rerun continues) once `minutes` of wall time have passed since
    this invocation's training began. The main process's clock decides; every process stops at that step."""

    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.start: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        over = self.start is not None and time.perf_counter() - self.start > self.minutes * 60
        if share_from_main(over):
            control.should_training_stop = True
            control.should_save = True


def _link_copy(src: Path, dst: Path) -> None:
    """`dst` as a copy of the directory `src` made of hard links (no second copy on disk), or a plain copy
    where the filesystem has none."""
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


class GateCallback(TrainerCallback, ExportableState):
    """Every `settings.every` steps (and at step 0): save the policy, evaluate it on the gate benches as run
    directories under gate/step-N/, keep the best policy in gate/best/ (mean metric over benches), and, with
    stop_on_regression, stop training when a bench is significantly worse than at the best step (paired test,
    mode better with candidate=best, i.e. best beats current at level alpha). gate/history.jsonl has one line
    per evaluation. One copy of the weights per decision: gate/best/ hard-links the best step's model/, and a
    step that is not the best keeps no weights.

    Under several processes (and machines) the main process saves and evaluates while the others wait, and its
    decision (best step, stop) reaches every process. A checkpoint is saved after each evaluation, and the best
    step and history are part of every checkpoint (ExportableState: the constructor's arguments and these
    attributes), so a resumed run continues them; a run the gate stopped stays stopped. The tokenizer saved
    with the policy is the trainer's (`processing_class`)."""

    _configured: GateCallback | None = None  # the last one built with its arguments (see __init__)

    def __init__(self, gate_dir: str | Path | None = None, settings: GateSettings | dict[str, Any] | None = None,
                 model_name: str | None = None) -> None:
        if gate_dir is None or settings is None:  # restored from a checkpoint written before the state kept them
            if GateCallback._configured is None:
                raise TypeError("GateCallback needs gate_dir and settings")
            gate_dir, settings = GateCallback._configured.gate_dir, GateCallback._configured.settings
            model_name = GateCallback._configured.model_name
        else:
            GateCallback._configured = self
        self.gate_dir = Path(gate_dir)
        self.settings = settings if isinstance(settings, GateSettings) else GateSettings(**settings)
        self.model_name = str(model_name)
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.history: list[dict[str, Any]] = []
        self.stopped_at: int | None = None

    def state(self) -> dict[str, Any]:
        return {"args": {"gate_dir": str(self.gate_dir), "settings": asdict(self.settings),
                         "model_name": self.model_name},
                "attributes": {"best_score": self.best_score, "best_step": self.best_step,
                               "history": self.history, "stopped_at": self.stopped_at}}

    def _evaluate(self, step: int, model: Any, tokenizer: Any) -> dict[str, Any]:
        """Main process only: evaluate, update gate/, return the history row."""
        settings, gate_dir = self.settings, self.gate_dir
        step_dir = gate_dir / f"step-{step:06d}"
        model_dir = save_policy(model, tokenizer, step_dir / "model")
        scores = evaluate_policy(model_dir, settings, step_dir, f"{self.model_name} step {step}")
        mean = sum(scores.values()) / len(scores)
        row: dict[str, Any] = {"step": step, "scores": scores, "mean": mean, "best_step": self.best_step}
        regressed = []
        if self.best_step is not None:
            best_dir = gate_dir / f"step-{self.best_step:06d}"
            for name in settings.benches:
                stem = Path(name).stem
                res = compare_runs(step_dir / stem, best_dir / stem, metric=settings.metric, alpha=settings.alpha,
                                   mode="better")
                if res.accept:  # the best step is significantly better than now
                    regressed.append(name)
            row["regressed"] = regressed
        best_step, best_score = self.best_step, self.best_score
        if best_score is None or mean > best_score:
            best_step, best_score = step, mean
            best = gate_dir / "best"
            if best.exists():
                shutil.rmtree(best)
            _link_copy(model_dir, best)
            write_json(gate_dir / "best.json", {"step": step, "scores": scores, "mean": mean})
            if self.best_step is not None:  # keep only the best policy's weights on disk
                shutil.rmtree(gate_dir / f"step-{self.best_step:06d}" / "model", ignore_errors=True)
        else:
            shutil.rmtree(model_dir, ignore_errors=True)
        row.update(best_step_after=best_step, best_score_after=best_score,
                   stop=bool(regressed) and settings.stop_on_regression)
        with (gate_dir / "history.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"[gate] step {step}: " + ", ".join(f"{k} {settings.metric} {v:.3f}" for k, v in scores.items())
              + f" (best step {best_step})" + (f"; regressed on {', '.join(regressed)}" if regressed else ""),
              file=sys.stderr)
        if row["stop"]:
            print(f"[gate] stopping: significant regression on {', '.join(regressed)}", file=sys.stderr)
        return row

    def _gate(self, state: Any, control: Any, model: Any, tokenizer: Any) -> None:
        """Every process: the main one evaluates, the others wait for its row and apply it too."""
        was_training = model.training
        row = self._evaluate(state.global_step, model, tokenizer) if state.is_world_process_zero else None
        model.train(was_training)
        row = share_from_main(row)
        self.history.append(row)
        self.best_step, self.best_score = row["best_step_after"], row["best_score_after"]
        control.should_save = True  # the gate's state and the policy it judged are checkpointed together
        if row["stop"]:
            self.stopped_at = state.global_step
            control.should_training_stop = True

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                       **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.gate_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.at_start and state.global_step == 0 and not self.history and model is not None:
            self._gate(state, control, model, processing_class)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                    **kwargs: Any) -> None:
        if state.global_step % self.settings.every == 0 and model is not None:
            self._gate(state, control, model, processing_class)
