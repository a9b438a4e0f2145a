"""What `r1eval grpo` and `r1eval distill train` share: the training directory (settings recorded in
config.json, a rerun resumes from the last complete checkpoint and refuses changed settings), the one
training log format (`steps.jsonl`), a wall-time budget, saving a policy, and the multi-process plumbing
(under `accelerate launch` / `torchrun` the main process decides, every process follows).

steps.jsonl: one JSON object per logged optimizer step, `{"step": N, "time": unix seconds, ...metrics}`.
It is only ever appended to; a resumed run may log a step again (the steps after its last checkpoint),
so readers keep the last row of each step (`read_steps`).

The gate: `GateSettings` and `evaluate_policy` evaluate the policy with the harness during training (each
evaluation an ordinary run directory, compared with `r1eval.gate.compare_runs`); the TrainerCallbacks that
use all this are in `r1eval.training_callbacks` (imported only when training, as they import transformers).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.gate import per_problem_values
from r1eval.records import SamplingParams
from r1eval.rundir import write_json

STEPS_FILE = "steps.jsonl"
CHECKPOINTS_DIR = "checkpoints"
# environment variables a launcher sets to the number of processes (torchrun/accelerate, MPI flavours)
_WORLD_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_RANK_VARS = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")


def _int_env(names: tuple[str, ...], default: int) -> int:
    for name in names:
        if os.environ.get(name, "").strip().isdigit():
            return int(os.environ[name])
    return default


def launched_world_size() -> int:
    """How many processes this launch has (1 without a launcher)."""
    return max(1, _int_env(_WORLD_SIZE_VARS, 1))


def is_main_process() -> bool:
    """Whether this is process 0 of the launch (or the only one)."""
    return _int_env(_RANK_VARS, 0) == 0


def init_distributed() -> None:
    """Start the process group (gloo on CPU, NCCL on GPUs) when launched with several processes, so the
    steps before the trainer exists (config.json, model preparation) can wait for the main process."""
    if launched_world_size() > 1:
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def share_from_main(value: Any) -> Any:
    """`value` as the main process computed it, on every process. A collective: every process calls it,
    the others wait here until the main process arrives (e.g. while it runs a gate evaluation)."""
    if launched_world_size() == 1 or not _distributed():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main_first(work: Callable[[], Any]) -> Any:
    """Run `work` on the main process, then on the others (e.g. materialising a model into a shared cache)."""
    if launched_world_size() == 1 or not _distributed():
        return work()
    import torch.distributed as dist

    result = work() if is_main_process() else None
    dist.barrier()
    return result if is_main_process() else work()


def split_batch(total: int, num_processes: int, micro_batch_size: int, what: str) -> tuple[int, int]:
    """(per-process micro batch, gradient accumulation) so that processes x micro x accumulation = `total`
    (`what` per optimizer step), the micro batch at most `micro_batch_size`; a UsageError names the fix."""
    if num_processes < 1:
        raise UsageError(f"the number of processes must be >= 1 (got {num_processes})")
    if total % num_processes:
        raise UsageError(f"{total} {what} per optimizer step can't be split evenly over {num_processes} processes; "
                         f"use a process count that divides {total}")
    per_process = total // num_processes
    micro = min(micro_batch_size, per_process)
    if per_process % micro:
        raise ConfigError("micro_batch_size", f"{micro} does not divide the {per_process} {what} per process ({total} "
                          f"per step over {num_processes} processes); use one that divides {per_process}")
    return micro, per_process // micro


def trl_config(config_class: type, **kwargs: Any) -> Any:
    """`config_class(**kwargs)` (a TRL/transformers config); its own validation errors become UsageError."""
    try:
        return config_class(**kwargs)
    except ValueError as exc:
        raise UsageError(f"{config_class.__name__}: {str(exc).splitlines()[0]}") from None


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete `checkpoint-N` under `checkpoints` (trainer_state.json is written last), or None."""
    if not checkpoints.is_dir():
        return None
    found = [(int(p.name.split("-")[1]), p) for p in checkpoints.glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                return f"{key}.{_first_difference(old[key], new[key])}"
            return key
    return ""


def _lookup(settings: dict[str, Any], dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def open_training_dir(output: Path, kind: str, settings: dict[str, Any], provenance: dict[str, Any]) -> Path | None:
    """Create or reopen a training directory. New: write config.json (`kind`, `settings`, provenance).
    Existing run of the same kind and settings: record the resume in config.json's `resumes` and return
    its last complete checkpoint (None when it has none yet). Changed settings, another kind of run, or a
    non-empty directory without config.json are a one-line UsageError. The main process decides; every
    process gets the same answer."""
    settings = json.loads(json.dumps(settings, default=str))
    outcome: tuple[str, str | None] | None = None
    if is_main_process():
        try:
            checkpoint = _open_on_main(output, kind, settings, provenance)
            outcome = ("ok", str(checkpoint) if checkpoint else None)
        except UsageError as exc:
            outcome = ("error", str(exc))
    outcome = share_from_main(outcome)
    assert outcome is not None
    if outcome[0] == "error":
        raise UsageError(str(outcome[1]))
    return Path(outcome[1]) if outcome[1] else None


def _open_on_main(output: Path, kind: str, settings: dict[str, Any], provenance: dict[str, Any]) -> Path | None:
    config_path = output / "config.json"
    if not config_path.is_file():
        if output.exists() and any(output.iterdir()):
            raise UsageError(f"{output} is not empty and holds no {kind} run (no config.json); pass a new `output`")
        output.mkdir(parents=True, exist_ok=True)
        write_json(config_path, {"kind": kind, "settings": settings, **provenance})
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("kind") != kind:
        raise UsageError(f"{output} holds a {config.get('kind')} run, not {kind}; pass a new `output`")
    old = config.get("settings") or {}
    if old != settings:
        key = _first_difference(old, settings)
        raise UsageError(f"{output} was trained with {key}={_lookup(old, key)!r} but this command has "
                         f"{_lookup(settings, key)!r}; rerun with the run's settings to continue it, or pass a "
                         "new `output`")
    checkpoint = last_checkpoint(output / CHECKPOINTS_DIR)
    config.setdefault("resumes", []).append({
        "from_step": int(checkpoint.name.split("-")[1]) if checkpoint else 0,
        "git_commit": provenance.get("git_commit"), "command": provenance.get("command"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    write_json(config_path, config)
    return checkpoint


def read_steps(path: Path) -> list[dict[str, Any]]:
    """steps.jsonl rows in step order, the last row of each step (a resumed run may log a step twice)."""
    if not path.is_file():
        return []
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill
            continue
        rows[int(row["step"])] = row
    return [rows[k] for k in sorted(rows)]


def gate_stopped_at(checkpoint: Path | None) -> int | None:
    """The step at which the gate (r1eval.training_callbacks.GateCallback, whose state each checkpoint stores) stopped
    the run this checkpoint belongs to; None when it did not stop it."""
    if checkpoint is None or not (checkpoint / "trainer_state.json").is_file():
        return None
    stored = json.loads((checkpoint / "trainer_state.json").read_text()).get("stateful_callbacks", {})
    gate = stored.get("GateCallback")
    for entry in gate if isinstance(gate, list) else [gate] if gate else []:
        if entry.get("attributes", {}).get("stopped_at") is not None:
            return int(entry["attributes"]["stopped_at"])
    return None


def train_and_save(trainer: Any, tokenizer: Any, checkpoint: Path | None, output: Path, final: Path) -> Path:
    """Train (continuing from `checkpoint` when given), then, on the main process, save the final model to
    `final` (LoRA merged, tokenizer padding left as the harness generates) and result.json; every process
    waits for that. A run the gate stopped is not trained further."""
    stopped = gate_stopped_at(checkpoint)
    best = output / "gate" / "best"
    if stopped is not None:
        if not (final / "config.json").is_file():
            raise UsageError(f"the gate stopped this run at step {stopped}; the model at the stop is in {checkpoint} "
                             f"and the best one in {best}")
        print(f"the gate stopped this run at step {stopped}; the best model is in {best}")
        return final
    if checkpoint is not None:  # Trainer would run one more step on a finished run: it is done already
        done = int(checkpoint.name.split("-")[1])
        target = trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
        if done >= target:
            if not (final / "config.json").is_file():
                raise UsageError(f"this run finished its {done} steps but {final} was not written; the model is in "
                                 f"{checkpoint}")
            print(f"{output} already holds {done} of {target} steps; a larger --max-steps continues it")
            return final
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    tokenizer.padding_side = "left"
    if params_sharded(trainer):  # ZeRO-3 / FSDP: every process takes part in gathering the weights
        trainer.save_model(str(final))
    if is_main_process():
        if params_sharded(trainer):
            tokenizer.save_pretrained(final)
        else:
            save_policy(trainer.model, tokenizer, final)
        link_identical_files(final, last_checkpoint(Path(trainer.args.output_dir)))
        write_json(output / "result.json", {
            "global_steps": result.global_step, "train_loss": result.training_loss,
            "train_seconds": round(time.perf_counter() - t0, 1), "resumed_from": str(checkpoint) if checkpoint else None})
    share_from_main(None)  # the others wait until the final model is written
    return final


def link_identical_files(directory: Path, other: Path | None) -> int:
    """Replace each file of `directory` whose bytes equal `other`'s file of the same name by a hard link to it
    (the final model and the last checkpoint's weights: one copy on disk). Returns the number linked."""
    import filecmp

    linked = 0
    for path in directory.iterdir() if other is not None else ():
        twin = other / path.name
        if path.is_file() and twin.is_file() and path.stat().st_size == twin.stat().st_size \
                and not path.samefile(twin) and filecmp.cmp(path, twin, shallow=False):
            tmp = path.with_name(path.name + ".link")
            try:
                os.link(twin, tmp)
            except OSError:  # no hard links here: keep the copy
                continue
            os.replace(tmp, path)
            linked += 1
    return linked


def params_sharded(trainer: Any) -> bool:
    """Whether the weights are split over processes (DeepSpeed ZeRO-3, FSDP): then saving is collective and no
    one process can save or evaluate the policy alone (so no gate)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None) if trainer.is_deepspeed_enabled else None
    return plugin is not None and plugin.zero_stage == 3


def refuse_gate_when_sharded(trainer: Any, gate: Any) -> None:
    """The gate saves and evaluates the policy on the main process alone: a UsageError under ZeRO-3/FSDP."""
    if gate is not None and params_sharded(trainer):
        raise UsageError("the gate evaluates the policy on the main process, which needs unsharded weights; drop "
                         "`gate_bench` under ZeRO-3/FSDP (use ZeRO-2) and evaluate the checkpoints with r1eval run")


def save_policy(model: Any, tokenizer: Any, out: Path) -> Path:
    """Save the policy as a plain HF directory; a peft model is merged into a copy first."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@dataclass
class GateSettings:
    """Evaluate the policy with the harness every `every` steps during GRPO."""

    benches: list[str]
    every: int = 50
    n: int = 4  # samples per problem
    limit: int | None = 20  # first N problems of each bench
    max_tokens: int = 1024
    temperature: float = SamplingParams.temperature  # the R1 protocol's sampling (r1eval.records)
    top_p: float = SamplingParams.top_p
    seed: int = 0
    metric: str = "pass@1"
    stop_on_regression: bool = False
    alpha: float = 0.05
    at_start: bool = True  # evaluate the initial policy (step 0) as the first baseline

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_policy(model_dir: Path, settings: GateSettings, out_dir: Path, label: str) -> dict[str, float]:
    """Run the harness on each gate bench for the model in `model_dir`; each eval is an ordinary run
    directory `out_dir/<bench>`. Returns bench -> metric value."""
    from r1eval.benches import LoadOptions, get_bench
    from r1eval.models import ModelSpec
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, run_eval

    scores = {}
    for name in settings.benches:
        bench = get_bench(name)
        spec = RunSpec(bench=bench, model=ModelSpec(label, "dir", str(model_dir)),
                       params=SamplingParams(n=settings.n, temperature=settings.temperature, top_p=settings.top_p,
                                             max_tokens=settings.max_tokens, seed=settings.seed),
                       backend="transformers", load=LoadOptions(), limit=settings.limit,
                       output=out_dir / Path(name).stem, progress=False)
        summary, _ = run_eval(spec)
        _, values = per_problem_values(out_dir / Path(name).stem, settings.metric)
        scores[name] = float(sum(values.values()) / len(values)) if values else float("nan")
        assert summary["num_problems"] == len(values)
    return scores
