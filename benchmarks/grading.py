"""Grading speed and fidelity: r1eval's MathGrader (memo + process pool) vs serial math-verify.

Builds real-looking MATH-500 completions, 64 per problem the way R1-protocol sampling produces them:
most samples repeat a few answers (the gold in several equivalent LaTeX spellings, a couple of wrong
answers), some box nothing, all carry a <think> block with a decoy \\boxed{} inside. Both graders see
the same text after </think>; the peer is plain `math_verify.verify(parse(gold), parse(text))`, one
completion at a time, as a simple harness does it.

    python benchmarks/grading.py [--problems 100] [--samples 64]
"""

from __future__ import annotations

import argparse
import random
import time

from r1eval.benches.math import bundled_path
from r1eval.grading.math import MathGrader, answer_region, normalize_gold
from r1eval.records import read_jsonl


def spellings(gold: str) -> list[str]:
    """Equivalent ways a model writes the gold answer."""
    forms = [gold, gold.replace("\\frac", "\\dfrac"), f" {gold} ", gold.replace(" ", "")]
    if gold.lstrip("-").isdigit():
        forms += [f"{gold}.0", f"{gold}\\text{{ units}}"]
    return list(dict.fromkeys(forms))


def wrong_answers(gold: str, rng: random.Random) -> list[str]:
    if gold.lstrip("-").isdigit():
        return [str(int(gold) + d) for d in (1, -1, 10)]
    return [f"{gold}+1", f"2{gold}" if len(gold) < 20 else "0"]


def make_completions(problems: list[dict], samples: int, seed: int = 0) -> list[tuple[str, str]]:
    """(completion, gold) pairs: per problem a skewed mix of right, wrong and missing answers."""
    rng = random.Random(seed)
    out = []
    for row in problems:
        gold = normalize_gold(row["answer"])
        right, wrong = spellings(gold), wrong_answers(gold, rng)
        p_right = rng.random()
        for _ in range(samples):
            roll = rng.random()
            if roll < 0.05:
                tail = "I could not finish the computation."
            else:
                answer = rng.choice(right) if roll < 0.05 + 0.95 * p_right else rng.choice(wrong)
                tail = f"Collecting the steps above, the final answer is $\\boxed{{{answer}}}$."
            think = f"<think>\nLet me try {rng.choice(wrong)} first... maybe \\boxed{{{rng.choice(wrong)}}}.\n</think>\n"
            out.append((think + "We simplify step by step.\n" + tail, gold))
    return out


def serial_math_verify(items: list[tuple[str, str]]) -> list[bool]:
    from math_verify import parse, verify

    results = []
    for completion, gold in items:
        region = answer_region(completion) or ""
        results.append(bool(verify(parse(f"${gold}$"), parse(region))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    problems = read_jsonl(bundled_path("math500.jsonl"))[: args.problems]
    items = make_completions(problems, args.samples)
    print(f"{len(items)} completions ({args.problems} MATH-500 problems x {args.samples} samples), "
          f"{len(set(items))} distinct")

    serial_math_verify(items[:1])  # both sides start with math-verify imported and warm
    t0 = time.perf_counter()
    grader = MathGrader()  # its worker-pool start is inside the timing
    ours = [v.correct for v in grader.grade(items)]
    t_ours = time.perf_counter() - t0
    grader.close()

    t0 = time.perf_counter()
    peer = serial_math_verify(items)
    t_peer = time.perf_counter() - t0

    agree = sum(a == b for a, b in zip(ours, peer, strict=True)) / len(items)
    print(f"r1eval MathGrader      : {t_ours:8.2f} s  ({len(items) / t_ours:8.1f} completions/s), "
          f"accuracy {sum(ours) / len(ours):.4f}")
    print(f"serial math-verify     : {t_peer:8.2f} s  ({len(items) / t_peer:8.1f} completions/s), "
          f"accuracy {sum(peer) / len(peer):.4f}")
    print(f"speed-up (serial / r1eval): {t_peer / t_ours:.1f}x; agreement {agree:.4f}")
    if agree < 1.0:
        diffs = [(c[-80:], g, a, b) for (c, g), a, b in zip(items, ours, peer, strict=True) if a != b]
        print(f"{len(diffs)} disagreements, first: {diffs[0]}")


if __name__ == "__main__":
    main()
