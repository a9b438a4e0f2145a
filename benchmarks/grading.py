"""Grading fidelity and speed: r1eval's MathGrader vs plain math-verify, `verify(parse(gold), parse(completion))`.

Fidelity: every case of the math corpora (tests/grading_corpus/math*.jsonl: other projects' labelled grader
tests and issue reports, converted to reasoning-model completions) is graded by both; the table gives each
one's agreement with the source labels, per source.

Error rates: per labelled corpus (math and MCQ), r1eval's false-positive rate (wrong answers accepted, among
the cases labelled incorrect) and false-negative rate (right answers rejected, among those labelled correct),
with 95% Wilson intervals. The pooled figures per grader version are written to
r1eval/grading/error_rates.json, which every summary.json's `grader` block and the report carry.

Speed: real-looking MATH-500 completions, 64 per problem the way R1-protocol sampling produces them (most
samples repeat a few answers: the gold in several equivalent LaTeX spellings, a couple of wrong answers, some
in prose; some box nothing; all carry a <think> block with a decoy \\boxed{} inside). Both graders run at the
same number of processes: one process each, then N each (math-verify's completions split over a pool of N,
r1eval's MathGrader(workers=N)); pool start-up and cold caches are inside every timing, and each cell is the
best of `--repeat` runs (the machine may be shared).

    python benchmarks/grading.py [--problems 500] [--samples 64] [--workers N] [--repeat 2] [--corpus PATH ...]
                                 [--skip-speed] [--no-write-rates]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from collections import defaultdict
from pathlib import Path

from r1eval.benches import get_bench
from r1eval.benches.math import bundled_path
from r1eval.grading.math import MATH_GRADER_VERSION, MathGrader, clear_caches, normalize_gold
from r1eval.grading.mcq import MCQ_GRADER_VERSION
from r1eval.grading.provenance import ERROR_RATES_FILE, error_rates
from r1eval.records import Problem, read_jsonl

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "grading_corpus"
MATH_CORPORA = [CORPUS_DIR / "math.jsonl", CORPUS_DIR / "math_v4.jsonl"]
MCQ_CORPUS = CORPUS_DIR / "mcq.jsonl"


def plain_math_verify(completion: str, gold: str) -> bool:
    """The peer: math-verify as a simple harness calls it, on the whole completion. Never raises."""
    from math_verify import parse, verify

    try:
        return bool(verify(parse(gold), parse(completion)))
    except BaseException as exc:  # math-verify can raise (or time out) on exotic input
        if isinstance(exc, KeyboardInterrupt):
            raise
        return False


def _plain_math_verify_chunk(items: list[tuple[str, str]]) -> list[bool]:
    logging.disable(logging.WARNING)
    return [plain_math_verify(c, g) for c, g in items]


def source_group(source: str) -> str:
    """The project a corpus case comes from (its tests and its issue threads together): 'owner/repo'."""
    if source.startswith("https://github.com/"):
        return "/".join(source.split("/")[3:5])
    return source.split(" ", 1)[0]


def fidelity(corpora: list[Path]) -> list[bool]:
    """Agreement of r1eval and of plain math-verify with the labels, per source; returns r1eval's verdicts."""
    rows = [json.loads(line) for corpus in corpora for line in corpus.read_text().splitlines() if line.strip()]
    grader = MathGrader(workers=1)
    ours = [v.correct for v in grader.grade([(r["completion"], r["gold"]) for r in rows])]
    peer = [plain_math_verify(r["completion"], r["gold"]) for r in rows]
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row, o, p in zip(rows, ours, peer, strict=True):
        label = row["label"] == "correct"
        for key in (source_group(row["source"]), "all"):
            table[key][0] += 1
            table[key][1] += o == label
            table[key][2] += p == label
    print(f"Fidelity: agreement with the source labels, {len(rows)} cases of {', '.join(c.name for c in corpora)}")
    print(f"| {'source (tests and issue threads)':<34} | {'cases':>5} | {'r1eval':>7} | {'math-verify':>11} |")
    print(f"| {'-' * 34} | {'-' * 4}: | {'-' * 6}: | {'-' * 10}: |")
    for key in sorted(table, key=lambda k: (k == "all", k)):
        n, o, p = table[key]
        print(f"| {key:<34} | {n:>5} | {o / n:>7.1%} | {p / n:>11.1%} |")
    return ours


def _math_verdicts(corpus: Path) -> tuple[list[bool], list[bool]]:
    rows = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
    verdicts = MathGrader(workers=1).grade([(r["completion"], r["gold"]) for r in rows])
    return [v.correct for v in verdicts], [r["label"] == "correct" for r in rows]


def _mcq_verdicts(corpus: Path) -> tuple[list[bool], list[bool]]:
    rows = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
    bench = get_bench("gpqa_diamond")
    verdicts = [bench.grade_one(Problem(r["id"], [], r["gold"], {"choices": r["choices"]}), r["completion"]).correct
                for r in rows]
    return verdicts, [bool(r["label"]) for r in rows]


def _pct(rate: float | None, ci: list[float]) -> str:
    return "-" if rate is None else f"{rate:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]"


def grader_error_rates(math_corpora: list[Path], mcq_corpus: Path, write: bool) -> dict:
    """Per corpus and pooled per grader: FP and FN rates with 95% Wilson intervals; written to
    `ERROR_RATES_FILE` when `write`."""
    graders = {"r1eval-math": (MATH_GRADER_VERSION, [(c, _math_verdicts) for c in math_corpora]),
               "r1eval-mcq": (MCQ_GRADER_VERSION, [(mcq_corpus, _mcq_verdicts)])}
    table: dict = {}
    print("\nError rates: FP = accepted among the cases labelled incorrect, FN = rejected among those labelled "
          "correct (95% Wilson intervals)")
    print("| grader | corpus | cases | FP rate | FN rate |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, (version, corpora) in graders.items():
        pooled_v: list[bool] = []
        pooled_l: list[bool] = []
        per_corpus = {}
        for corpus, read in corpora:
            if not corpus.is_file():
                continue
            verdicts, labels = read(corpus)
            pooled_v += verdicts
            pooled_l += labels
            rates = error_rates(verdicts, labels)
            per_corpus[f"tests/grading_corpus/{corpus.name}"] = rates
            print(f"| {name} v{version} | {corpus.name} | {rates['cases']} | {_pct(rates['fp_rate'], rates['fp_ci95'])}"
                  f" | {_pct(rates['fn_rate'], rates['fn_ci95'])} |")
        pooled = error_rates(pooled_v, pooled_l)
        print(f"| {name} v{version} | all | {pooled['cases']} | {_pct(pooled['fp_rate'], pooled['fp_ci95'])} | "
              f"{_pct(pooled['fn_rate'], pooled['fn_ci95'])} |")
        table[name] = {"version": version, "corpus": " + ".join(per_corpus), "measured": time.strftime("%Y-%m-%d"),
                       "all": pooled, "corpora": per_corpus}
    if write:
        ERROR_RATES_FILE.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        print(f"written to {ERROR_RATES_FILE}")
    return table


def spellings(gold: str) -> list[str]:
    """Equivalent ways a model writes the gold answer."""
    forms = [gold, gold.replace("\\frac", "\\dfrac"), f" {gold} ", gold.replace(" ", "")]
    if gold.lstrip("-").isdigit():
        forms += [f"{gold}.0", f"{gold}\\text{{ units}}", f"{int(gold):,}"]
    return list(dict.fromkeys(forms))


def wrong_answers(gold: str) -> list[str]:
    if gold.lstrip("-").isdigit():
        return [str(int(gold) + d) for d in (1, -1, 10)]
    return [f"{gold}+1", f"2{gold}" if len(gold) < 20 else "0"]


def make_completions(problems: list[dict], samples: int, seed: int = 0) -> list[tuple[str, str]]:
    """(completion, gold) pairs: per problem a skewed mix of right, wrong and missing answers."""
    rng = random.Random(seed)
    out = []
    for row in problems:
        gold = normalize_gold(row["answer"])
        right, wrong = spellings(gold), wrong_answers(gold)
        p_right = rng.random()
        for _ in range(samples):
            roll = rng.random()
            if roll < 0.05:
                tail = "I could not finish the computation."
            else:
                answer = rng.choice(right) if roll < 0.05 + 0.95 * p_right else rng.choice(wrong)
                tail = (f"Collecting the steps above, the final answer is $\\boxed{{{answer}}}$." if roll < 0.9
                        else f"Hence the answer is ${answer}$.")
            think = (f"<think>\nLet me try {rng.choice(wrong)} first... maybe \\boxed{{{rng.choice(wrong)}}}.\n"
                     "</think>\n")
            out.append((think + "We simplify step by step.\n" + tail, gold))
    return out


def _time(repeat: int, fn, *args):
    """(result, best wall time of `repeat` runs): the least disturbed run on a shared machine."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def _math_verify_pool(items: list[tuple[str, str]], workers: int) -> list[bool]:
    """Plain math-verify over a pool of `workers` processes (forkserver with math-verify preloaded)."""
    from r1eval.workers import chunks, process_pool

    with process_pool(workers, preload=["math_verify"]) as pool:
        parts = pool.map(_plain_math_verify_chunk, chunks(items, workers))
        return [r for part in parts for r in part]


def _r1eval(items: list[tuple[str, str]], workers: int) -> list[bool]:
    clear_caches()  # every timed run starts cold: no parse left over from an earlier run
    grader = MathGrader(workers=workers)  # its worker-pool start (if it starts one) is inside the timing
    try:
        return [v.correct for v in grader.grade(items)]
    finally:
        grader.close()


def speed(problems: int, samples: int, workers: int, repeat: int) -> None:
    rows = read_jsonl(bundled_path("math500.jsonl"))[:problems]
    items = make_completions(rows, samples)
    print(f"\nSpeed: {len(items)} completions ({problems} MATH-500 problems x {samples} samples), "
          f"{len(set(items))} distinct; load average before {os.getloadavg()[0]:.2f}")
    _plain_math_verify_chunk(items[:1])  # both sides start with math-verify imported and warm
    _r1eval(items[:1], 1)
    peer, t_peer = _time(repeat, _plain_math_verify_chunk, items)
    ours, t_ours = _time(repeat, _r1eval, items, 1)
    print(f"| {'processes':<9} | {'math-verify':>11} | {'r1eval':>8} | {'speed-up':>8} |")
    print(f"| {'-' * 9} | {'-' * 10}: | {'-' * 7}: | {'-' * 7}: |")
    print(f"| {1:<9} | {t_peer:>10.2f}s | {t_ours:>7.2f}s | {t_peer / t_ours:>7.1f}x |")
    if workers > 1:
        peer_n, t_peer_n = _time(repeat, _math_verify_pool, items, workers)
        ours_n, t_ours_n = _time(repeat, _r1eval, items, workers)
        print(f"| {workers:<9} | {t_peer_n:>10.2f}s | {t_ours_n:>7.2f}s | {t_peer_n / t_ours_n:>7.1f}x |")
        assert peer_n == peer and ours_n == ours, "a pool changed a verdict"
    agree = sum(a == b for a, b in zip(ours, peer, strict=True)) / len(items)
    print(f"verdicts: r1eval accuracy {sum(ours) / len(ours):.4f}, math-verify {sum(peer) / len(peer):.4f}, "
          f"agreement {agree:.4f}; load average after {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for the N-vs-N comparison (default: all cores)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per cell; the best is reported")
    parser.add_argument("--corpus", type=Path, nargs="+", default=MATH_CORPORA, help="math corpora (JSONL)")
    parser.add_argument("--skip-speed", action="store_true", help="fidelity and error rates only")
    parser.add_argument("--skip-fidelity", action="store_true", help="error rates (and speed) only")
    parser.add_argument("--no-write-rates", action="store_true",
                        help=f"do not write the measured rates to {ERROR_RATES_FILE.name}")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # math-verify logs every timeout and unparsable answer
    if not args.skip_fidelity:
        fidelity([c for c in args.corpus if c.is_file()])
    grader_error_rates([c for c in args.corpus if c.is_file()], MCQ_CORPUS, write=not args.no_write_rates)
    if not args.skip_speed:
        speed(args.problems, args.samples, args.workers, args.repeat)


if __name__ == "__main__":
    main()
