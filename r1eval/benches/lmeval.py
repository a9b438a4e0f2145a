"""lm-evaluation-harness tasks under the R1 protocol: `--bench lm-eval:TASK [--lm-eval-include DIR]`.

lm-eval defines the task: its `TaskManager` finds and builds it (built-in tasks, or your YAML tasks in
`--lm-eval-include DIR`, `!function` helpers from the `utils.py` next to them included), and the task gives
the documents (its evaluation split: test, else validation), the prompt (`fewshot_context`: description,
`num_fewshot` examples, `doc_to_text`, collapsed into one user turn as lm-eval's `--apply_chat_template`
does), the target (`doc_to_target`), the filters (`filter_list`: regex, take_first, ...) and the metric
(`metric_list` with its options, or `process_results`). r1eval decides generation: the model's chat template,
n samples with one seed each, temperature/top-p/max tokens from the command line, resume, the run directory.

Each sample is scored like lm-eval scores one response, on the text after `</think>` (a reply whose
reasoning never closes is scored as an empty reply and is never correct): every filter pipeline of the task runs over it, then
`process_results(doc, [filtered])`. The first filter and the first metric decide `correct` (score == 1,
so pass@1 over n, pass@k and the bootstrap CI are the usual ones for binary metrics such as exact_match);
the filtered response is the extracted answer cons@n votes over (lm-eval's fallback `[invalid]` counts as
no answer). Every (metric, filter) score is kept in `detail.lm_eval` and averaged in summary.json
`lm_eval_metrics`, keyed as lm-eval keys them (`exact_match,strict-match`).

Not taken from the task, because the R1 protocol decides them: `generation_kwargs` (stop sequences
`until`, `do_sample`, `temperature`, `max_gen_toks`) and `repeats`; a `gen_prefix` (an assistant-turn
prefix) is dropped, and a system turn (`description`) is folded into the user turn, as R1 uses no system
prompt. `provenance()` records them as `ignored`, with the lm-eval version and the task config hash.
Generative tasks only (`output_type: generate_until`).

A document's problem id is its index in the evaluation split, or its `id` when every document has a
distinct one.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from r1eval.benches.base import Bench, LoadOptions
from r1eval.errors import ConfigError, UsageError
from r1eval.reasoning import answer_region
from r1eval.records import Problem, Sample, Verdict

PREFIX = "lm-eval:"
ADAPTER_VERSION = "1"  # bump whenever this adapter's verdicts can change
FEWSHOT_SEED = 1234  # lm-eval's default --fewshot_seed
LM_EVAL_FALLBACK = "[invalid]"  # what lm-eval's regex filter returns when nothing matches


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _yaml_errors(include: Path) -> list[str]:
    """YAML files under `include` that lm-eval's index would silently skip, with why."""
    from lm_eval.tasks._yaml_loader import load_yaml

    errors = []
    for path in sorted(include.rglob("*.yaml")):
        try:
            load_yaml(path, resolve_func=False, recursive=True)
        except Exception as exc:
            errors.append(f"{path}: {_first_line(exc)}")
    return errors


@functools.lru_cache(maxsize=4)
def _task_manager(include: str | None, with_lm_eval_tasks: bool) -> Any:
    """lm-eval's TaskManager over `include` (and lm-eval's own tasks), built once per process."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise UsageError("lm-eval tasks need the lm-eval package: pip install 'r1eval[lm-eval]'") from None
    return TaskManager(include_path=include, include_defaults=with_lm_eval_tasks)


def load_task(name: str, include: Path | None) -> Any:
    """The lm-eval Task `name`, built by lm-eval's TaskManager (your include dir first, then lm-eval's own
    tasks); one line and exit 2 for an unknown, group, broken or non-generative task."""
    if include is not None:
        if not include.is_dir():
            raise ConfigError("lm_eval_include", f"{include}: not a directory")
        include = include.resolve()
    manager = _task_manager(str(include), False) if include else None
    if manager is None or name not in manager.all_tasks:  # indexing lm-eval's own tasks takes seconds
        manager = _task_manager(str(include) if include else None, True)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=3)
        hint = f" (close: {', '.join(close)})" if close else ""
        broken = _yaml_errors(include) if include else []
        if broken:
            hint += f"; lm-eval skipped a YAML it could not read: {broken[0]}"
        raise UsageError(f"unknown lm-eval task {name!r}{hint}; `lm-eval ls tasks` lists lm-eval's tasks, "
                         "`lm_eval_include` DIR adds yours")
    entry = manager.task_index[name]
    declared = (entry.cfg or {}).get("output_type")
    if declared and declared != "generate_until":
        raise _not_generative(name, declared)
    try:
        loaded = manager.load([name])
    except FileNotFoundError as exc:  # data_files written relative to the YAML, not to the current directory
        if entry.yaml_path is None:
            raise UsageError(f"lm-eval could not build task {name}: {_first_line(exc)}") from None
        try:
            with contextlib.chdir(Path(entry.yaml_path).parent):
                loaded = manager.load([name])
        except Exception as exc2:
            raise UsageError(f"lm-eval could not build task {name}: {_first_line(exc2)}") from None
    except Exception as exc:
        raise UsageError(f"lm-eval could not build task {name}: {_first_line(exc)}") from None
    tasks = loaded["tasks"]
    if len(tasks) != 1:
        names = sorted(tasks)
        raise UsageError(f"lm-eval:{name} is a group of {len(names)} tasks ({', '.join(names[:5])}"
                         f"{', ...' if len(names) > 5 else ''}); run one task per bench, e.g. lm-eval:{names[0]}")
    task = next(iter(tasks.values()))
    if task.OUTPUT_TYPE != "generate_until":
        raise _not_generative(name, task.OUTPUT_TYPE)
    missing = [m for m, fn in task._metric_fn_list.items() if fn is None and task.config.process_results is None]
    if missing:
        raise UsageError(f"lm-eval task {name}: metric {missing[0]!r} is not available offline in lm-eval")
    return task


def _not_generative(name: str, output_type: str) -> UsageError:
    return UsageError(f"lm-eval task {name} is {output_type}; r1eval runs generative tasks only (output_type: "
                      "generate_until), since the R1 protocol scores sampled completions")


def _capture_messages(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[dict[str, str]]:
    """A `chat_template` for lm-eval's fewshot_context that returns the messages instead of rendering them."""
    return messages


def r1_messages(lm_messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """lm-eval's chat messages for one document as the R1 protocol sends them: no system turn (its text opens
    the user turn) and no assistant prefix."""
    msgs = [dict(m) for m in lm_messages]
    if msgs and msgs[-1]["role"] == "assistant":
        msgs = msgs[:-1]
    if msgs and msgs[0]["role"] == "system":
        system = msgs.pop(0)["content"]
        if msgs:
            msgs[0]["content"] = f"{system}\n\n{msgs[0]['content']}" if system.strip() else msgs[0]["content"]
        else:
            msgs = [{"role": "user", "content": system}]
    return msgs


def _jsonable(value: Any) -> Any:
    """A metric value or target as plain JSON (numpy scalars to Python numbers)."""
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(Exception):
            return value.item()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@dataclass
class LMEvalBench(Bench):
    """One lm-eval generative task, generated with the R1 protocol and scored by the task's filters + metric."""

    grader_family: ClassVar[str] = "lm-eval"

    task_name: str = ""
    include: Path | None = None
    _task: Any = field(default=None, repr=False)

    @classmethod
    def from_name(cls, name: str, include: Path | None = None) -> LMEvalBench:
        """`lm-eval:TASK` -> the bench (the task itself is built on first use)."""
        task_name = name[len(PREFIX):].strip()
        if not task_name:
            raise ConfigError("bench", "lm-eval:TASK needs a task name, e.g. lm-eval:gsm8k")
        return cls(name=f"{PREFIX}{task_name}", description=f"lm-eval task {task_name}", default_n=4,
                   kind="lm-eval", task_name=task_name, include=Path(include) if include else None)

    @property
    def task(self) -> Any:
        if self._task is None:
            self._task = load_task(self.task_name, self.include)
        return self._task

    # ------------------------------------------------------------------------------------------ loading

    def load(self, opts: LoadOptions) -> list[Problem]:
        if opts.data is not None or opts.hub:
            raise UsageError(f"{self.name}: an lm-eval task reads the data its YAML names (dataset_path, data_files); "
                             "`data`/`hub` do not apply")
        task = self.task
        docs = list(task.eval_docs)
        if not docs:
            raise UsageError(f"lm-eval task {self.task_name} has no documents in its evaluation split")
        shots = int(task.config.num_fewshot or 0)
        if shots:
            task.set_fewshot_seed(FEWSHOT_SEED)
        ids = [str(d["id"]) if isinstance(d, dict) and d.get("id") not in (None, "") else None for d in docs]
        use_ids = all(ids) and len(set(ids)) == len(ids)
        if any(ids) and not use_ids:
            print(f"{self.name}: documents' 'id' values are missing or repeated; problem ids are document indices",
                  file=sys.stderr)
        problems = []
        for i, doc in enumerate(docs):
            try:
                lm_messages = task.fewshot_context(doc, num_fewshot=shots, apply_chat_template=True,
                                                   fewshot_as_multiturn=False, chat_template=_capture_messages,
                                                   gen_prefix=task.doc_to_prefix(doc))
                target = task.doc_to_target(doc)
            except Exception as exc:
                raise UsageError(f"lm-eval task {self.task_name}: document {i}: {_first_line(exc)}") from None
            if not isinstance(lm_messages, list):  # multiple-input tasks give one context per choice
                raise UsageError(f"lm-eval task {self.task_name} has several inputs per document; not supported")
            pid = ids[i] if use_ids else str(i)
            problems.append(Problem(pid, r1_messages(lm_messages), _jsonable(target), {"doc": doc, "doc_index": i}))
        metadata = task.config.metadata if isinstance(task.config.metadata, dict) else {}
        opts.extra.update({"source": str(metadata.get("config_source") or self.task_name), "format": "lm-eval"})
        if self.include:
            opts.extra["lm_eval_include"] = str(self.include)
        return problems

    # ------------------------------------------------------------------------------------------ scoring

    @property
    def primary(self) -> tuple[str, str]:
        """(metric, filter) that decides `correct`: the task's first metric under its first filter."""
        task = self.task
        metric = next(iter(task._metric_fn_list), None) or "exact_match"
        return metric, task._filters[0].name

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        from lm_eval.api.instance import Instance

        task = self.task
        instances, regions = [], []
        for problem, completion in items:
            if "doc" not in problem.meta:
                raise UsageError(f"{self.name}: rows are graded against the task's documents; give each row the "
                                 "document's problem_id")
            region = answer_region(completion)
            regions.append(region)
            inst = Instance("generate_until", problem.meta["doc"], ("", {}), 0,
                            metadata=(self.task_name, problem.meta["doc_index"], 1))
            inst.resps = [region or ""]
            instances.append(inst)
        if instances:
            for ensemble in task._filters:
                ensemble.apply(instances)
        metric, primary_filter = self.primary
        fallbacks = self._fallbacks()
        verdicts = []
        for inst, region in zip(instances, regions, strict=True):
            filtered, scores = {}, {}
            for name, resp in inst.filtered_resps.items():
                resp = resp[0] if isinstance(resp, list) and len(resp) == 1 else resp
                filtered[name] = _jsonable(resp)
                try:
                    result = task.process_results(inst.doc, [resp])
                except Exception as exc:
                    raise UsageError(f"lm-eval task {self.task_name}: process_results failed on document "
                                     f"{inst.doc_id}: {_first_line(exc)}") from None
                scores.update({f"{m},{name}": _jsonable(v) for m, v in result.items()})
            key = f"{metric},{primary_filter}"
            if key not in scores:  # process_results named its metrics itself: its first one
                key = next((k for k in scores if k.endswith(f",{primary_filter}")), key)
            score = scores.get(key)
            answer = filtered.get(primary_filter)
            answer = answer.strip() if isinstance(answer, str) and answer.strip() not in fallbacks else None
            correct = isinstance(score, int | float) and math.isclose(float(score), 1.0)
            detail: dict[str, Any] = {"lm_eval": {"filtered": filtered, "metrics": scores}, "score": score}
            if region is None:  # scored as an empty reply, never correct
                answer, correct = None, False
                detail["reason"] = "reasoning never closed (no </think>)"
            verdicts.append(Verdict(answer, bool(correct), detail))
        return verdicts

    def _fallbacks(self) -> set[str]:
        """Filter outputs that mean "nothing extracted" (lm-eval's regex fallback, the task's own, or nothing)."""
        out = {LM_EVAL_FALLBACK, ""}
        for pipeline in self.task.config.filter_list or []:
            for step in pipeline.get("filter", []):
                if isinstance(step, dict) and isinstance(step.get("fallback"), str):
                    out.add(step["fallback"])
        return out

    def extra_summary(self, summary: dict[str, Any], samples: Sequence[Sample],
                      problems: Sequence[Problem]) -> dict[str, Any]:
        """`lm_eval_metrics`: every numeric (metric, filter) score averaged over samples (lm-eval's mean over
        documents, each document's n samples weighted equally), and which one decides `correct`."""
        values: dict[str, list[float]] = {}
        for s in samples:
            for key, v in ((s.detail or {}).get("lm_eval", {}).get("metrics") or {}).items():
                if isinstance(v, int | float):
                    values.setdefault(key, []).append(float(v))
        metric, primary_filter = self.primary
        scores = [s.detail.get("score") for s in samples if s.detail]
        binary = all(v in (0, 1, True, False) for v in scores if v is not None)
        return {"lm_eval_metrics": {k: sum(v) / len(v) for k, v in sorted(values.items())},
                "lm_eval_primary": f"{metric},{primary_filter}", "lm_eval_binary_metric": binary}

    def provenance(self) -> dict[str, Any]:
        task = self.task
        config = task.dump_config()
        ignored = {"generation_kwargs": _jsonable(config.get("generation_kwargs")), "repeats": config.get("repeats")}
        if config.get("gen_prefix"):
            ignored["gen_prefix"] = config["gen_prefix"]
        metric, primary_filter = self.primary
        return {"grader": {"name": f"lm-eval:{self.task_name}", "version": ADAPTER_VERSION},
                "lm_eval": {"version": lm_eval_version(), "task": self.task_name,
                            "task_version": _jsonable(task.VERSION), "config_sha256": task_config_sha256(config),
                            "num_fewshot": int(task.config.num_fewshot or 0),
                            "filters": [f.name for f in task._filters], "metrics": list(task._metric_fn_list),
                            "primary": f"{metric},{primary_filter}", "ignored": ignored}}


def task_config_sha256(config: dict[str, Any]) -> str:
    """SHA-256 of lm-eval's dump of the task config (functions as their source), without where the YAML lives."""
    cfg = dict(config)
    if isinstance(cfg.get("metadata"), dict):
        cfg["metadata"] = {k: v for k, v in cfg["metadata"].items() if k != "config_source"}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()
