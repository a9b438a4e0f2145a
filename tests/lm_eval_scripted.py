"""lm-eval's own evaluator on fixed replies: the reference r1eval's lm-eval scoring and export are checked
against. The model is lm-eval's `LM` interface answering from a list (generation only)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

TASKS = Path(__file__).resolve().parent / "data" / "lm_eval_tasks"


def lm_eval_on_replies(task: str, replies: list[str]) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` of `task` (a YAML in tests/data/lm_eval_tasks) where document i gets
    replies[i]; the results dict, with `samples`."""
    from lm_eval.api.model import LM
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.tasks import TaskManager

    class ScriptedLM(LM):
        def loglikelihood(self, requests):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

        def generate_until(self, requests):
            return [replies[r.doc_id] for r in requests]

    with contextlib.chdir(TASKS):  # the YAMLs' data_files are relative to their folder
        return simple_evaluate(model=ScriptedLM(), tasks=[task], log_samples=True, bootstrap_iters=0,
                               task_manager=TaskManager(include_path=str(TASKS), include_defaults=False))
