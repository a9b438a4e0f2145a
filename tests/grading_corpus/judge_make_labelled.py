"""Derive judge_math.jsonl (the labelled rows `r1eval judge calibrate` reads) from math.jsonl.

Two rows per (class, label) pair, in file order, so every failure class of the math corpus is present with
both labels where it has them. math.jsonl records no problem statements, so `question` says so; the judge
compares the final answer with the reference only. Run from the repository root:
`python tests/grading_corpus/judge_make_labelled.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_CELL = 2
QUESTION = "(problem statement not recorded; judge whether the final answer states the reference answer)"


def main() -> None:
    taken: Counter[tuple[str, str]] = Counter()
    rows = []
    for line in (HERE / "math.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        cell = (row["class"], row["label"])
        if taken[cell] >= PER_CELL:
            continue
        taken[cell] += 1
        rows.append({"id": row["id"], "class": row["class"], "question": QUESTION, "reference": row["gold"],
                     "completion": row["completion"], "label": row["label"] == "correct"})
    (HERE / "judge_math.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                           encoding="utf-8")
    print(f"wrote {len(rows)} rows ({sum(r['label'] for r in rows)} labelled correct)")


if __name__ == "__main__":
    main()
