"""MCQ extraction (r1eval/grading/mcq.py) against the converted corpus tests/grading_corpus/mcq.jsonl, directly
and through `r1eval grade --bench gpqa_diamond`, plus the rules the corpus exercises only indirectly."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from r1eval.benches import get_bench
from r1eval.cli import main
from r1eval.grading.mcq import extract_choice, gold_letter
from r1eval.records import Problem

CORPUS_DIR = Path(__file__).resolve().parent / "grading_corpus"
CASES = [json.loads(line) for line in (CORPUS_DIR / "mcq.jsonl").read_text(encoding="utf-8").splitlines()]


def test_corpus_is_the_builders_output() -> None:
    """mcq.jsonl is exactly what mcq_make_corpus.py writes (so every case can be traced to its template)."""
    sys.path.insert(0, str(CORPUS_DIR))
    try:
        from mcq_make_corpus import build
    finally:
        sys.path.remove(str(CORPUS_DIR))
    cases, questions = build()
    assert cases == CASES
    assert questions == [json.loads(line) for line in (CORPUS_DIR / "mcq_questions.jsonl").read_text().splitlines()]


def test_corpus_shape() -> None:
    assert len(CASES) >= 300
    assert len({c["id"] for c in CASES}) == len(CASES)
    sources = {c["source"] for c in CASES}
    assert len(sources) >= 20 and all(c["source"] for c in CASES)
    assert sum(c["expected"] is None for c in CASES) >= 40  # negatives: no stated answer
    assert sum(not c["label"] and c["expected"] is not None for c in CASES) >= 60  # a wrong letter stated
    assert any(len(c["choices"]) == 10 and c["gold"] > "D" for c in CASES)
    for c in CASES:
        assert c["label"] == (c["expected"] == c["gold"])


def test_strict_extraction_reads_every_corpus_case() -> None:
    misses = [(c["id"], c["source"], c["completion"][-80:], c["expected"],
               extract_choice(c["completion"], c["choices"]).letter)
              for c in CASES if extract_choice(c["completion"], c["choices"]).letter != c["expected"]]
    assert not misses, "\n".join(map(str, misses))


def _agreement(lenient: bool) -> dict[str, float]:
    bench = get_bench("gpqa_diamond")
    by_source: dict[str, list[bool]] = defaultdict(list)
    for c in CASES:
        problem = Problem(c["id"], [], c["gold"], {"choices": c["choices"]})
        verdict = bench.grade_one(problem, c["completion"], lenient=lenient)
        by_source[c["source"]].append(verdict.correct == c["label"])
    overall = [ok for oks in by_source.values() for ok in oks]
    return {"overall": sum(overall) / len(overall), **{s: sum(v) / len(v) for s, v in by_source.items()}}


def test_bench_grades_with_the_mode_that_agrees_best_with_the_labels() -> None:
    strict, lenient = _agreement(False), _agreement(True)
    assert strict["overall"] == 1.0
    assert lenient["overall"] < strict["overall"]  # hence the bench grades strictly
    assert all(strict[s] >= lenient[s] for s in strict)


def test_grade_cli_agrees_with_the_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As a user would: 4-choice cases by problem_id against the questions file (choice text readable),
    10-choice cases by their gold `answer` alone."""
    rows = [{"problem_id": c["question_id"], "completion": c["completion"]} if c["question_id"]
            else {"answer": c["gold"], "completion": c["completion"]} for c in CASES]
    inp, out = tmp_path / "rows.jsonl", tmp_path / "graded.jsonl"
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["grade", "--bench", "gpqa_diamond", "--data", str(CORPUS_DIR / "mcq_questions.jsonl"),
                 "--input", str(inp), "--output", str(out)]) == 0
    graded = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    wrong = [(c["id"], c["completion"][-60:], g["extracted_answer"]) for c, g in zip(CASES, graded, strict=True)
             if g["correct"] != c["label"]]
    assert not wrong, wrong
    assert f"({sum(c['label'] for c in CASES)}/{len(CASES)})" in capsys.readouterr().out
    unparseable = [g for g in graded if g["detail"].get("unparseable")]
    assert len(unparseable) == sum(c["expected"] is None for c in CASES)


@pytest.mark.parametrize("completion, expected", [
    ("<think>I first thought A.</think>\nI first thought A, but the units rule it out. Answer: C", "C"),
    ("<think>x</think>\nAnswer: A shift of the energy level", None),  # the article
    ("<think>x</think>\nAnswer: I think it is D", "D"),  # the pronoun
    ("<think>x</think>\nThe answer is not B.", None),
    ("<think>x</think>\nThe answer is A or B.", None),
    ("<think>x</think>\nAnswer: B\n\nOn reflection, the answer is either C or D.", None),  # a final hedge
    ("<think>Answer: B</think>", None),
    ("<think>Answer: B", None),
    ("Answer: C", "C"),  # a reply without reasoning tags is all answer
    ("<think>x</think>\n\\boxed{E = mc^2}", None),
    ("<think>x</think>\nAnswer: C'", None),  # a primed symbol, not a choice
    # a connective or article between the cue and the letter, in the languages lighteval's multilingual
    # letter extraction covers (huggingface/lighteval src/lighteval/tasks/multilingual/, issue 11 class 7)
    ("<think>x</think>\nLa bonne réponse est donc la C.", "C"),
    ("<think>x</think>\nDie richtige Antwort ist daher B.", "B"),
    ("<think>x</think>\nPortanto, a alternativa correta é a D.", "D"),
    ("<think>x</think>\nLa respuesta correcta es, por lo tanto, la B.", "B"),
    ("<think>x</think>\nQuindi la risposta corretta è D.", "D"),
])
def test_strictness(completion: str, expected: str | None) -> None:
    assert extract_choice(completion).letter == expected


def test_letters_beyond_d_follow_the_number_of_choices() -> None:
    reply = "<think>x</think>\nThe answer is (H)."
    assert extract_choice(reply).letter == "H"  # no choices known: A-J
    assert extract_choice(reply, num_choices=10).letter == "H"
    assert extract_choice(reply, num_choices=4).letter is None
    assert extract_choice("<think>x</think>\nAnswer: E", ["1", "2", "3", "4"]).letter is None


def test_lenient_reads_weak_signals_only_where_no_answer_is_stated() -> None:
    weak = "<think>x</think>\nI weighed (B) against (C) and the data favour the latter (C)."
    assert extract_choice(weak).letter == "C"  # a parenthesised letter ends the last line
    weaker = "<think>x</think>\nComparing (B) with (C), the second is consistent with the data."
    assert extract_choice(weaker).letter is None
    assert extract_choice(weaker, lenient=True).letter == "C"
    stated = "<think>x</think>\nAnswer: B\n\nThe distractor (C) fails."
    assert extract_choice(stated, lenient=True).letter == "B"
    hedge = "<think>x</think>\nThe answer is A or B."
    assert extract_choice(hedge, lenient=True).letter == "A"


def test_gold_letters() -> None:
    assert [gold_letter(g) for g in ["C", "(C)", "c", "C) Jupiter", "(D) Alina", "A Peter\nCelina"]] == \
        ["C", "C", "C", "C", "D", "A"]
    assert gold_letter("Alina and the answer is\n(C) Cecile") == "C"
    assert gold_letter("") is None


def test_adversarial_inputs_stay_fast() -> None:
    import time

    for text in ["Answer " * 3000 + "is C", "\\boxed{" * 3000 + "C" + "}" * 3000, "A or " * 5000 + "B",
                 "(" * 20000 + "C", "Answer:" + " " * 50000 + "\nC"]:
        start = time.perf_counter()
        extract_choice(text)
        # a bound on a hang, not a speed target: catastrophic backtracking on these inputs takes hours
        assert time.perf_counter() - start < 30.0


SHARED_MCQ = Path("/work/shared/data/gpqa_diamond_mcq.jsonl")
if not SHARED_MCQ.is_file():
    SHARED_MCQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "gpqa_diamond_mcq.jsonl"


@pytest.mark.skipif(not SHARED_MCQ.is_file(), reason="gpqa_diamond_mcq.jsonl snapshot not available")
def test_gpqa_snapshot_answers_by_letter_and_by_choice_text() -> None:
    """On the real questions (never copied here): letters always read; a one-line choice's text read as it
    (unless another choice has the same text)."""
    from r1eval.benches import LoadOptions

    bench = get_bench("gpqa_diamond")
    problems = bench.load(LoadOptions(data=SHARED_MCQ))
    missed = []
    for p in problems:
        choices = p.meta["choices"]
        for k, letter in enumerate("ABCD"):
            for reply in (f"Answer: {letter}", f"**Final Answer**\n\n\\boxed{{{letter}}}"):
                if bench.grade_one(p, f"<think>\nhmm\n</think>\n{reply}").extracted_answer != letter:
                    missed.append((p.id, reply[:12]))
            if "\n" not in choices[k].strip() and choices.count(choices[k]) == 1:  # two questions repeat a choice
                for reply in (f"Answer: {choices[k]}", f"The correct answer is {choices[k]}.", choices[k]):
                    if bench.grade_one(p, f"<think>\nhmm\n</think>\n{reply}").extracted_answer != letter:
                        missed.append((p.id, "choice text", k))
    assert not missed, missed
