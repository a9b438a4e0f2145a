"""The judge as one more grader outside `r1eval run`: in `r1eval audit` (an independent verdict per sample)
and in `r1eval distill filter` (R1's rejection sampling: a trace the rule verifier cannot decide is kept
only if the judge says its answer matches the reference). Verdicts are cached beside the output."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1eval.judge.cache import VerdictCache, ask_cached
from r1eval.judge.client import JudgeSpec, prompt_key
from r1eval.judge.stage import final_answer, question_text

_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")  # a word that is not a LaTeX command


def judge_items(spec: JudgeSpec, items: Sequence[tuple[str, str, str]], cache_path: Path, what: str,
                progress: bool = False) -> list[dict[str, Any]]:
    """The judge's record for each (question, reference, completion): its final answer judged against the
    reference (`verdict` None with `error` for an unparseable reply; NOT_ATTEMPTED, not asked, when there is
    no final answer)."""
    template = spec.template
    assert template is not None
    identity = spec.identity()
    cache = VerdictCache(cache_path)
    keys: list[str | None] = []
    prompts: dict[str, str] = {}
    for question, reference, completion in items:
        answer = final_answer(completion)
        if answer is None:
            keys.append(None)
            continue
        prompt = template.render(question=question, reference=reference, answer=answer)
        key = prompt_key(identity, prompt)
        keys.append(key)
        prompts[key] = prompt
    ask_cached(spec, prompts, cache, what, progress)
    base = {"template": template.name, "template_sha256": template.sha256}
    return [{"verdict": "NOT_ATTEMPTED", "error": None, "reply": None, **base} if key is None else
            {**{k: cache.replies[key][k] for k in ("verdict", "error", "reply")}, **base} for key in keys]


def row_question(row: dict[str, Any]) -> str:
    """The question of a samples.jsonl / graded row: its `problem`, or the last user turn of its prompt."""
    if isinstance(row.get("problem"), str):
        return row["problem"]
    prompt = row.get("prompt", row.get("messages"))
    if isinstance(prompt, list):
        return question_text(prompt)
    return str(prompt or "")


def audit_judge_grader(rows: Sequence[dict[str, Any]], gold_of: Any, spec: JudgeSpec, out: Path,
                       progress: bool = False) -> list[tuple[str | None, bool] | None]:
    """`r1eval audit --judge`: (answer, correct) per row, None where the judge's reply was unparseable (that
    row is left out of the judge's agreement and accuracy)."""
    records = judge_items(spec, [(row_question(r), str(gold_of(r)), r["completion"]) for r in rows],
                          out / "audit_judge_verdicts.jsonl", "samples", progress)
    return [None if rec["verdict"] is None else (rec["verdict"], rec["verdict"] == "CORRECT") for rec in records]


def rule_cannot_decide(trace: Any) -> bool:
    """Whether the rule verifier's negative is no real verdict: the reply has a final answer, yet the
    verifier read none from it, or the gold is free-form text (words, not math)."""
    if trace.correct or final_answer(trace.completion) is None or trace.gold in (None, ""):
        return False
    return trace.source.get("extracted_answer") is None or bool(_PROSE_WORD.search(str(trace.gold)))


def judge_undecided_traces(traces: Sequence[Any], spec: JudgeSpec, out: Path,
                           progress: bool = False) -> dict[str, Any]:
    """Ask the judge about each trace the rule verifier cannot decide; mark those it calls CORRECT as correct
    (in place, with the verdict in `source['judge']`). Returns the counts for the filter report."""
    undecided = [t for t in traces if rule_cannot_decide(t)]
    items = [(question_text(t.messages), str(t.gold), t.completion) for t in undecided]
    records = judge_items(spec, items, out / "judge_verdicts.jsonl", "traces", progress) if items else []
    for trace, record in zip(undecided, records, strict=True):
        trace.source["judge"] = record
        if record["verdict"] == "CORRECT":
            trace.correct = True
    verdicts = Counter(r["verdict"] for r in records if r["verdict"] is not None)
    return {"judge": {**spec.identity(), "asked_about": len(undecided),
                      "verdicts": {g: verdicts.get(g, 0) for g in ("CORRECT", "INCORRECT", "NOT_ATTEMPTED")},
                      "errors": sum(r["verdict"] is None for r in records),
                      "judged_correct": verdicts.get("CORRECT", 0)}}
