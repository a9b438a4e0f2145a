"""GPQA-Diamond (Rein et al. 2023): 198 graduate-level science questions with four choices.

GPQA's authors ask that the questions not be redistributed, so nothing is bundled: load the gated hub
original (`--hub [--revision REV]`, Idavidrein/gpqa `gpqa_diamond.csv`, after accepting its terms) or local
data (`--data PATH`: a file, parquet, a `save_to_disk` directory or a hub cache snapshot; see
r1eval/benches/datasource.py) whose rows take one of two forms:

- the original CSV (columns Question, Correct Answer, Incorrect Answer 1-3; also as JSONL rows with those
  keys). The choices are shuffled with a seed per (problem, sample), so the right answer's position
  carries no signal; each sample records the order it was shown (`detail.choice_order`, indices into
  [Correct Answer, Incorrect Answer 1, 2, 3]).
- a pre-shuffled multiple-choice JSONL: `question` with the choices inline (`A) ...` to `D) ...` lines)
  and the gold `answer` letter. Its order is fixed by the file and used as is.

Letters: every problem has a *reference order* (the file's order, or for the CSV form a shuffle seeded
by the problem id alone) that `Problem.messages` and `Problem.gold` use. A sample may be shown another
order; its extracted answer is mapped back to the reference letter, so `extracted_answer` and `gold`
always use the same letters and cons@n votes over the same choice whatever order each sample saw.
`detail.shown_letter` keeps the letter the model actually wrote.

Prompt: the simple-evals template (think step by step; last line `Answer: $LETTER`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from r1eval.benches.base import Bench, LoadOptions
from r1eval.benches.datasource import read_hub_files, read_local
from r1eval.errors import UsageError
from r1eval.grading.mcq import LETTERS as CHOICE_LETTERS
from r1eval.grading.mcq import MCQ_GRADER_VERSION, extract_choice, gold_letter
from r1eval.records import Messages, Problem, Sample, Verdict, duplicate_ids, row_place

LETTERS = "ABCD"
HUB_REPO = "Idavidrein/gpqa"
HUB_FILE = "gpqa_diamond.csv"
CSV_CHOICE_COLUMNS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")

# simple-evals' QUERY_TEMPLATE_MULTICHOICE, worded for four choices
INSTRUCTION = ("Answer the following multiple choice question. The last line of your response should be of "
               "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
               "Think step by step before answering.")


# ---------------------------------------------------------------------------------------------------
# prompt and choice order


def mcq_prompt(question: str, choices: Sequence[str] | None = None) -> Messages:
    """One user turn: the instruction, the question, and the choices as `A) ...` lines (when given
    separately; the pre-shuffled JSONL form already has them inline)."""
    body = question.strip()
    if choices is not None:
        body += "\n\n" + "\n".join(f"{LETTERS[j]}) {text}" for j, text in enumerate(choices))
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n{body}"}]


def shuffled_order(key: str) -> list[int]:
    """A permutation of range(4) determined by `key` alone (Python's str seeding hashes with SHA-512, so it
    is the same on every machine and unaffected by PYTHONHASHSEED)."""
    order = list(range(len(LETTERS)))
    random.Random(key).shuffle(order)
    return order


def reference_order(problem_id: str) -> list[int]:
    """The order the CSV form's `Problem.messages` shows: a shuffle seeded by the problem id only."""
    return shuffled_order(f"gpqa-reference-order:{problem_id}")


def sample_order(seed: int) -> list[int]:
    """The order one sample is shown, from that sample's seed (itself derived from base seed, problem, index)."""
    return shuffled_order(f"gpqa-choice-order:{seed}")


_INLINE_CHOICE = re.compile(r"^[ \t]*\(?([A-D])\)[ \t]", re.M)


def parse_inline_choices(question: str) -> list[str] | None:
    """The texts of the last run of `A) .. B) .. C) .. D) ..` lines in a question, or None."""
    marks = list(_INLINE_CHOICE.finditer(question))
    for start in range(len(marks) - 4, -1, -1):
        run = marks[start:start + 4]
        if [m.group(1) for m in run] == list(LETTERS):
            ends = [m.start() for m in run[1:]] + [len(question)]
            return [question[m.end():end].strip() for m, end in zip(run, ends, strict=True)]
    return None


# ---------------------------------------------------------------------------------------------------
# loading


def problems_from_rows(rows: list[dict[str, Any]], source: str) -> list[Problem]:
    """Problems from CSV-form rows (Question, Correct Answer, Incorrect Answer 1-3) or MCQ rows
    (question with inline choices, answer letter)."""
    problems = []
    for i, row in enumerate(rows):
        if "Question" in row:
            problems.append(_problem_from_csv_row(row, i, source))
        elif "question" in row:
            problems.append(_problem_from_mcq_row(row, i, source))
        else:
            raise UsageError(f"{source}: {row_place(rows, i)} has neither 'Question' (GPQA CSV form) nor 'question' "
                             "(multiple-choice JSONL form)")
    duplicate = duplicate_ids([p.id for p in problems], rows)
    if duplicate:
        raise UsageError(f"{source}: problem ids are not unique: {duplicate}; give each row a distinct 'id' / "
                         "'Record ID'")
    if not problems:
        raise UsageError(f"{source} has no questions")
    return problems


def _problem_from_csv_row(row: dict[str, Any], i: int, source: str) -> Problem:
    missing = [k for k in ("Question", *CSV_CHOICE_COLUMNS) if not str(row.get(k) or "").strip()]
    if missing:
        raise UsageError(f"{source}: row {i + 1} has no {', '.join(repr(k) for k in missing)}; the GPQA CSV "
                         f"form needs Question and {', '.join(CSV_CHOICE_COLUMNS)}")
    pid = str(row.get("Record ID") or row.get("id") or i)
    choices = [str(row[k]).strip() for k in CSV_CHOICE_COLUMNS]
    order = reference_order(pid)
    question = str(row["Question"]).strip()
    meta = {"question": question, "choices": choices, "correct": 0, "reference_order": order,
            "order": order, "shuffle": True}
    return Problem(pid, mcq_prompt(question, [choices[k] for k in order]), LETTERS[order.index(0)], meta)


def _problem_from_mcq_row(row: dict[str, Any], i: int, source: str) -> Problem:
    gold = str(row.get("answer") or "").strip().strip("()").upper()
    if gold not in LETTERS or not gold:
        raise UsageError(f"{source}: row {i + 1} needs an 'answer' letter A-D (got {row.get('answer')!r})")
    question = str(row["question"])
    choices = parse_inline_choices(question)  # for matching answers given as the choice text
    order = list(range(len(LETTERS)))
    meta = {"question": question, "choices": choices, "correct": LETTERS.index(gold), "reference_order": order,
            "order": order, "shuffle": False}
    return Problem(str(row.get("id", i)), mcq_prompt(question), gold, meta)


def _gpqa_files(directory: Path) -> list[Path]:
    """In a copy of the hub repo (or any folder holding it), the Diamond CSV."""
    return [directory / HUB_FILE] if (directory / HUB_FILE).is_file() else []


# ---------------------------------------------------------------------------------------------------
# grading (the extraction rules live in r1eval/grading/mcq.py)


def problem_from_record(row: dict[str, Any]) -> Problem:
    """The problem one recorded sample saw, rebuilt from its samples.jsonl (or graded) row alone, for
    `r1eval audit`: the gold letter (`gold`, else `answer`), the choices shown (the prompt's `A) ...`
    lines; the last one cut where a chat template's end-of-turn token follows it) and, for a shuffled sample,
    its `detail.choice_order` with the problem's reference order."""
    pid = str(row.get("problem_id", row.get("id", "")))
    gold = row.get("gold") if row.get("gold") not in (None, "") else row.get("answer")
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    shown = parse_inline_choices(prompt) if isinstance(prompt, str) else None
    if shown:  # the rendered prompt goes on after the last choice: a chat template's end-of-turn token
        shown[-1] = re.split(r"\n|<\||<｜|</s>|\[/INST\]|<end_of_turn>", shown[-1], maxsplit=1)[0].strip()
    order = (row.get("detail") or {}).get("choice_order")
    if not order:
        return Problem(pid, [], gold, {"choices": shown, "shuffle": False})
    choices = [shown[order.index(k)] for k in range(len(order))] if shown and len(shown) == len(order) else None
    return Problem(pid, [], gold, {"choices": choices, "order": order, "reference_order": reference_order(pid),
                                   "shuffle": True})


# ---------------------------------------------------------------------------------------------------
# the bench


@dataclass
class GPQABench(Bench):
    """GPQA-Diamond: gated CSV from the hub or a local CSV / MCQ JSONL; seeded per-sample choice shuffles."""

    grader_family: ClassVar[str] = "mcq"

    def load(self, opts: LoadOptions) -> list[Problem]:
        revision = opts.extra.get("revision")
        if opts.data is not None:
            loaded = read_local(opts.data, split="train", pick=_gpqa_files, revision=revision)
        elif opts.hub:
            loaded = read_hub_files(HUB_REPO, [HUB_FILE], revision=revision, pick=_gpqa_files)
        else:
            raise UsageError("gpqa_diamond is not bundled (its authors ask that it not be redistributed): pass "
                             "`data` PATH (the GPQA CSV, a multiple-choice JSONL, parquet, a save_to_disk directory or a "
                             f"hub snapshot) or `hub` (gated {HUB_REPO}; accept its terms and log in first)")
        loaded.note(opts)
        return problems_from_rows(loaded.rows, loaded.source)

    def sample_problem(self, problem: Problem, sample_index: int, seed: int) -> Problem:
        if not problem.meta.get("shuffle"):
            return problem
        order = sample_order(seed)
        choices = problem.meta["choices"]
        return Problem(problem.id, mcq_prompt(problem.meta["question"], [choices[k] for k in order]),
                       problem.gold, {**problem.meta, "order": order})

    def provenance(self) -> dict[str, Any]:
        return {"grader": {"name": "r1eval-mcq", "version": MCQ_GRADER_VERSION}}

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return [self.grade_one(problem, completion) for problem, completion in items]

    def grade_one(self, problem: Problem, completion: str, lenient: bool = False) -> Verdict:
        """Extract the chosen letter (strictly, unless `lenient`), map it from the order this sample was
        shown to the reference order, compare with the gold letter. A problem without choices (a graded
        row with only an `answer`) is read with letters A-J."""
        meta = problem.meta
        choices = meta.get("choices")
        order = meta.get("order") or (list(range(len(choices))) if choices else None)
        reference = meta.get("reference_order") or order
        shown_choices = [choices[k] for k in order] if choices and order else None
        shown, how = extract_choice(completion, shown_choices, num_choices=len(order) if order else None,
                                    lenient=lenient)
        detail: dict[str, Any] = {"how": how}
        if meta.get("shuffle"):
            detail["choice_order"] = order  # source choices shown at A-D; 0 = the CSV's Correct Answer
        if shown is None:
            return Verdict(None, False, {**detail, "unparseable": True})
        letter = CHOICE_LETTERS[reference.index(order[CHOICE_LETTERS.index(shown)])] if order else shown
        return Verdict(letter, letter == gold_letter(problem.gold), {**detail, "shown_letter": shown})

    def extra_summary(self, summary: dict[str, Any], samples: Sequence[Sample],
                      problems: Sequence[Problem]) -> dict[str, Any]:
        """Unparseable answers count as wrong; say how many there were."""
        return {"unparseable": sum(bool(s.detail.get("unparseable")) for s in samples)}


def gpqa_benches() -> list[Bench]:
    """GPQA-Diamond with the R1 protocol's defaults."""
    return [GPQABench("gpqa_diamond", "GPQA-Diamond, 198 science MCQs (not bundled: --data PATH or --hub)",
                      default_n=8, kind="mcq")]
