"""Programs per second per language: r1eval's sandbox against an unisolated reference, same programs, same
worker count, same run (`python benchmarks/sandbox.py --languages cpp,java,...`).

Each language gets `--programs` distinct programs (a + b from stdin, every one a different source, so
none is served from the build cache) with `--tests` stdin tests each. The sandbox grades them as the
benches do (`run_stdin_tests(..., language=...)`: compile once in the sandbox, run each test in a fresh
sandboxed run). The reference does the same with plain subprocesses and no isolation: the same compile
and run command lines (languages.py), a temporary directory per program, the same environment, stdin and
time limits, in a tmpfs (/dev/shm) as the sandbox's runs are. Both must pass every program. Printed per language: programs/s for both, the ratio
(sandbox time / reference time), compile seconds per program, seconds per test run, and the start-up
share: how much of one test run an empty program already takes (JVM, mono, node start-up).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from r1eval.grading.sandbox import builds, run_stdin_tests
from r1eval.grading.sandbox.languages import LANGUAGES, Language

SUM = {
    "cpp": "#include <cstdio>\nint main(){long a,b; scanf(\"%ld %ld\",&a,&b); printf(\"%ld\\n\",a+b);}\n// {i}",
    "java": "import java.util.*;\nclass Main { public static void main(String[] x) { Scanner s = new Scanner(System.in);"
            " System.out.println(s.nextLong() + s.nextLong()); } }\n// {i}",
    "cs": "using System;\nclass P { static void Main() { var p = Console.ReadLine().Split(' ');"
          " Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }\n// {i}",
    "js": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number); console.log(a + b);\n// {i}",
    "ts": "declare var require: any;\nconst [a, b]: number[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/)"
          ".map(Number);\nconsole.log(a + b);\n// {i}",
    "php": "<?php\n[$a, $b] = array_map('intval', preg_split('/\\s+/', trim(stream_get_contents(STDIN))));\n"
           "echo $a + $b, \"\\n\";\n// {i}",
    "sh": "read a b\necho $((a + b))\n# {i}",
    "python": "a, b = map(int, input().split())\nprint(a + b)\n# {i}",
}
EMPTY = {"cpp": "int main(){}", "java": "class Main { public static void main(String[] a) {} }",
         "cs": "class P { static void Main() {} }", "js": "", "ts": "", "php": "<?php", "sh": ":", "python": "pass"}
TIMEOUT_S = 20.0
# the reference works in a tmpfs too, as sandboxed runs do (their /tmp is a fresh tmpfs): the comparison
# then measures the isolation, not the disk under the host's /tmp
REFERENCE_TMP = "/dev/shm"


def _tests(n: int) -> list[tuple[str, str]]:
    return [(f"{i} {i * 7}\n", f"{i * 8}\n") for i in range(1, n + 1)]


def reference(language: Language, source: str, tests: list[tuple[str, str]]) -> tuple[bool, float, float]:
    """Compile and run with plain subprocesses, no isolation: (all passed, compile s, run s in all)."""
    try:
        return _reference(language, source, tests)
    except subprocess.TimeoutExpired:
        return False, 0.0, 0.0


def _reference(language: Language, source: str, tests: list[tuple[str, str]]) -> tuple[bool, float, float]:
    base = tempfile.mkdtemp(prefix="r1eval-bench-", dir=REFERENCE_TMP if os.path.isdir(REFERENCE_TMP) else None)
    program, work = os.path.join(base, "program"), os.path.join(base, "work")
    os.mkdir(program)
    os.mkdir(work)
    os.mkdir(os.path.join(work, "build"))  # as the sandbox does before a compile (native.py)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
    try:
        with open(os.path.join(program, language.file_name(source)), "w") as fh:
            fh.write(source)
        compile_s = 0.0
        if language.compiled:
            started = time.perf_counter()
            heap = language.compile_memory_mb
            done = subprocess.run(language.argv(language.compile, source, heap), cwd=work, capture_output=True,
                                  timeout=language.compile_timeout_s * 2,
                                  env={**env, **{k: v.format(heap_mb=heap) for k, v in language.env}})
            compile_s = time.perf_counter() - started
            if done.returncode != 0:
                return False, compile_s, 0.0
            shutil.copytree(os.path.join(work, "build"), program, dirs_exist_ok=True)
        argv = language.argv(language.run, source, 512) if language.run else ["python3", f"../program/{language.file_name(source)}"]
        run_env = {**env, **{k: v.format(heap_mb=512) for k, v in language.env}}
        started = time.perf_counter()
        ok = True
        for stdin, expected in tests:
            done = subprocess.run(argv, cwd=work, input=stdin.encode(), capture_output=True, timeout=TIMEOUT_S, env=run_env)
            ok = ok and done.returncode == 0 and done.stdout.decode().strip() == expected.strip()
        return ok, compile_s, time.perf_counter() - started
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _timed_pool(fn, items: list, workers: int) -> tuple[list, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(fn, items))
    return results, time.perf_counter() - started


def bench_language(name: str, programs: int, tests: int, workers: int, repeats: int) -> dict:
    language = LANGUAGES[name]
    cases = _tests(tests)
    tag = os.urandom(4).hex()
    sources = [SUM[name].replace("{i}", f"{tag}-{i}") for i in range(programs)]
    ref, ours, ref_s, our_s = [], [], 0.0, 0.0
    half = max(1, programs // 2)
    for part in (sources[:half], sources[half:]):  # alternate, so that a change in the machine's load hits both
        got, seconds = _timed_pool(lambda s: reference(language, s, cases), part, workers)
        ref, ref_s = ref + got, ref_s + seconds
        got, seconds = _timed_pool(lambda s: run_stdin_tests(s, cases, timeout_s=TIMEOUT_S, memory_mb=512,
                                                             language=name),
                                   [s + " " for s in part], workers)  # a different source: no build cache hit
        ours, our_s = ours + got, our_s + seconds
    failed = (sum(not ok for ok, _, _ in ref), sum(not o.passed for o in ours))
    if any(failed):
        print(f"{name}: programs failed (reference, sandbox): {failed}: {[o.detail for o in ours if not o.passed][:2]}")
    sandbox_compile = [builds.compile_program(name, s + " ").compile_s for s in sources] if language.compiled else [0.0]
    empty = EMPTY[name]
    ref_empty = [reference(language, empty + ("\n// x" if name not in ("sh", "python") else ""), [("", "")])[2]
                 for _ in range(repeats)]
    if language.compiled:
        builds.compile_program(name, empty)
    sandbox_empty = []
    for _ in range(repeats):
        res = builds.run_native(name, empty, timeout_s=TIMEOUT_S, memory_mb=512) if name != "python" else None
        sandbox_empty.append(res.wall_s if res is not None else 0.0)
    ref_run = sum(r[2] for r in ref) / (programs * tests)
    our_run = sum(o.wall_s for o in ours) / (programs * tests)
    return {"language": name, "ref_per_s": programs / ref_s, "ours_per_s": programs / our_s, "ratio": our_s / ref_s,
            "ref_compile_s": sum(r[1] for r in ref) / programs, "our_compile_s": sum(sandbox_compile) / len(sandbox_compile),
            "failed": failed, "ref_run_s": ref_run, "our_run_s": our_run,
            "ref_startup_share": min(1.0, (sum(ref_empty) / repeats) / ref_run) if ref_run else None,
            "our_startup_share": min(1.0, (sum(sandbox_empty) / repeats) / our_run) if our_run and name != "python" else None}


def run(languages: list[str], programs: int, tests: int, workers: int, repeats: int = 3) -> list[dict]:
    from r1eval.grading import sandbox

    print(f"isolation: {sandbox.isolation()}; {programs} programs x {tests} tests per language, {workers} workers, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'language':<9} {'reference p/s':>13} {'sandbox p/s':>11} {'ratio':>6} {'compile s ref/sbx':>17} "
          f"{'run s ref':>9} {'run s sbx':>9} {'start-up share ref/sbx':>22}")
    rows = []
    for name in languages:
        row = bench_language(name, programs, tests, workers, repeats)
        rows.append(row)
        share = "/".join("-" if v is None else f"{v:.0%}" for v in (row["ref_startup_share"], row["our_startup_share"]))
        print(f"{name:<9} {row['ref_per_s']:>13.2f} {row['ours_per_s']:>11.2f} {row['ratio']:>5.2f}x "
              f"{row['ref_compile_s']:>8.2f}/{row['our_compile_s']:<8.2f} {row['ref_run_s']:>9.3f} {row['our_run_s']:>9.3f} {share:>22}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return rows
