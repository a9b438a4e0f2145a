"""Synthetic verifiable tasks: integer arithmetic problems with exact answers, written as the
problem/answer JSONL that both `r1eval grpo --data` and `r1eval run --bench FILE.jsonl` read."""

from __future__ import annotations

import json
import random
from pathlib import Path


def arithmetic_problems(count: int, digits: int = 2, ops: str = "+", seed: int = 0,
                        prefix: str = "arith") -> list[dict[str, str]]:
    """`count` distinct problems "What is a OP b?" with `digits`-digit operands, ops drawn from `ops`."""
    rng = random.Random(seed)
    lo, hi = 10 ** (digits - 1), 10 ** digits - 1
    seen: set[tuple[int, str, int]] = set()
    rows = []
    if count > (hi - lo + 1) ** 2 * len(ops):
        raise ValueError(f"only {(hi - lo + 1) ** 2 * len(ops)} distinct problems exist")
    while len(rows) < count:
        a, b, op = rng.randint(lo, hi), rng.randint(lo, hi), rng.choice(ops)
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        rows.append({"id": f"{prefix}-{len(rows)}", "problem": f"What is {a} {op} {b}?", "answer": str(value)})
    return rows


def write_split(rows: list[dict[str, str]], path: str | Path) -> Path:
    """Write problem/answer rows as JSONL; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_test_split(count_train: int, count_test: int, digits: int = 2, ops: str = "+",
                     seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Disjoint train and held-out test problems from one draw."""
    rows = arithmetic_problems(count_train + count_test, digits, ops, seed)
    test = [{**r, "id": f"test-{i}"} for i, r in enumerate(rows[count_train:])]
    train = [{**r, "id": f"train-{i}"} for i, r in enumerate(rows[:count_train])]
    return train, test
