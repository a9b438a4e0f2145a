"""Grading fidelity and speed: r1eval's MathGrader vs plain math-verify, `verify(parse(gold), parse(completion))`.

Fidelity: every case of the regression corpus (tests/grading_corpus/math.jsonl: other projects' labelled
grader tests and issue reports, converted to reasoning-model completions) is graded by both; the table gives
each one's agreement with the source labels, per source.

Speed: real-looking MATH-500 completions, 64 per problem the way R1-protocol sampling produces them (most
samples repeat a few answers: the gold in several equivalent LaTeX spellings, a couple of wrong answers, some
in prose; some box nothing; all carry a <think> block with a decoy \\boxed{} inside). Both graders run at the
same number of processes: one process each, then N each (math-verify's completions split over a pool of N,
r1eval's MathGrader(workers=N)); pool start-up and cold caches are inside every timing, and each cell is the
best of `--repeat` runs (the machine may be shared).

    python benchmarks/grading.py [--problems 500] [--samples 64] [--workers N] [--repeat 2] [--corpus PATH]
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

from r1eval.benches.math import bundled_path
from r1eval.grading.math import MathGrader, clear_caches, normalize_gold
from r1eval.records import read_jsonl

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "grading_corpus" / "math.jsonl"


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


def fidelity(corpus: Path) -> None:
    rows = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
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
    print(f"Fidelity: agreement with the source labels, {len(rows)} cases of {corpus.name}")
    print(f"| {'source (tests and issue threads)':<34} | {'cases':>5} | {'r1eval':>7} | {'math-verify':>11} |")
    print(f"| {'-' * 34} | {'-' * 4}: | {'-' * 6}: | {'-' * 10}: |")
    for key in sorted(table, key=lambda k: (k == "all", k)):
        n, o, p = table[key]
        print(f"| {key:<34} | {n:>5} | {o / n:>7.1%} | {p / n:>11.1%} |")


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
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # math-verify logs every timeout and unparsable answer
    fidelity(args.corpus)
    speed(args.problems, args.samples, args.workers, args.repeat)


if __name__ == "__main__":
    main()
