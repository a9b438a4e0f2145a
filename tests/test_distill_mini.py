"""The mini reproduction's scripted teacher: correct and filter-clean without flaws, flawed at the set rates."""

from __future__ import annotations

import random
from dataclasses import replace

from distill.filter import FilterConfig, Trace, filter_traces
from distill.mini_r1 import MiniConfig, teacher_trace

CLEAN = replace(MiniConfig(), slip_rate=0.0, loop_rate=0.0, foreign_rate=0.0, no_summary_rate=0.0)


def traces(cfg: MiniConfig, count: int) -> list[Trace]:
    rng = random.Random(0)
    out = []
    for i in range(count):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        out.append(Trace(f"p{i}", [{"role": "user", "content": f"What is {a} + {b}?"}], str(a + b),
                         teacher_trace(a, b, random.Random(i), cfg)))
    return out


def test_clean_teacher_is_always_correct_and_readable():
    kept, rejected = filter_traces(traces(CLEAN, 40), FilterConfig())
    assert len(kept) == 40 and not rejected


def test_flawed_teacher_is_rejected_for_the_right_reasons():
    cfg = replace(CLEAN, slip_rate=0.3, loop_rate=0.1, foreign_rate=0.1, no_summary_rate=0.1)
    kept, rejected = filter_traces(traces(cfg, 200), FilterConfig())
    reasons = {rs[0] for _, rs in rejected}
    assert {"incorrect", "format", "language", "repetition"} <= reasons
    assert 0.3 < len(kept) / 200 < 0.8
