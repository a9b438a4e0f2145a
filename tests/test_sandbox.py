"""The sandbox executor: verdicts, checkers, isolation levels (root, rootless, none) and the unsafe switch.

The hostile programs are in test_sandbox_hostile.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from r1eval.grading import sandbox as sb
from r1eval.grading.sandbox import Program, outputs_match, run_many, run_program
from tests.conftest import wait_until

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parent.parent
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="these checks expect the root sandbox level")


def test_stdin_stdout_roundtrip_and_large_input():
    data = "x" * (5 << 20)
    res = run_program("import sys\ns = sys.stdin.read()\nprint(len(s), s[:3])", stdin=data, timeout_s=10)
    assert res.verdict == "passed", res
    assert res.stdout == f"{len(data)} xxx\n"


@pytest.mark.parametrize(("source", "verdict"), [
    ("print(1", "syntax_error"),
    ("x = '\0'\nprint(x", "syntax_error"),
    ("raise ValueError('boom')", "runtime_error"),
    ("import sys\nsys.exit(3)", "runtime_error"),
    ("import sys\nsys.exit('bye')", "runtime_error"),
    ("import sys\nprint('ok')\nsys.exit(0)", "passed"),
    ("print('ok')\nexit()", "passed"),
    ("x = bytearray(64 * 1024 ** 3)", "memory_limit"),
    ("while True:\n    pass", "timeout"),
])
def test_verdicts(source, verdict):
    res = run_program(source, timeout_s=1.5, memory_mb=512)
    assert res.verdict == verdict, res
    assert res.verdict in sb.VERDICTS


def test_details_name_the_failure():
    assert run_program("raise ValueError('boom')", timeout_s=3).detail == "ValueError: boom"
    assert run_program("import sys\nsys.exit(3)", timeout_s=3).detail == "exit code 3"
    assert "line 1" in run_program("print(1", timeout_s=3).detail
    assert run_program("while True:\n    pass", timeout_s=1).detail == "wall time limit exceeded (1 s)"


def test_test_code_runs_in_the_judge():
    assert run_program("def f(): return 1", test_code="assert f() == 1", timeout_s=3).verdict == "passed"
    res = run_program("def f(): return 2", test_code="assert f() == 1, 'f is wrong'", timeout_s=3)
    assert (res.verdict, res.detail) == ("wrong_answer", "AssertionError: f is wrong")
    assert run_program("exit(0)", test_code="assert False", timeout_s=3).verdict == "runtime_error"
    # values cross as plain data with their types: tuples stay tuples, sets stay sets, floats stay floats
    src = "def f():\n    return (1, [2.5, {3: frozenset({4})}], {5}, b'x', None, True, 10**30, 1j)"
    test = "assert f() == (1, [2.5, {3: frozenset({4})}], {5}, b'x', None, True, 10**30, 1j)\nassert f()[5] is True"
    assert run_program(src, test_code=test, timeout_s=3).verdict == "passed"
    # exceptions come back as their nearest built-in type, so tests that expect them still work
    src = "class Bad(ValueError):\n    pass\ndef f(x):\n    raise Bad('no')\n"
    test = "try:\n    f(1)\nexcept ValueError as e:\n    assert str(e) == 'no'\nelse:\n    assert False"
    assert run_program(src, test_code=test, timeout_s=3).verdict == "passed"
    # subclasses of built-in containers (namedtuple, Counter) become their base type
    src = "from collections import Counter, namedtuple\nP = namedtuple('P', 'x y')\n" \
          "def f():\n    return P(1, 2), Counter('aab')\n"
    test = "p, c = f()\nassert p == (1, 2) and c == {'a': 2, 'b': 1}"
    assert run_program(src, test_code=test, timeout_s=3).verdict == "passed"


def test_test_setup_and_entry_point():
    """The problem's own helpers come from the setup code, the function under test from the program."""
    setup = "def helper(x):\n    return x * 10\n\ndef f(x):\n    '''stub'''\n"
    test = "assert f(2) == helper(2) + 1"
    good = "def f(x):\n    return x * 10 + 1\n"
    assert run_program(good, test_code=test, test_setup=setup, entry_point="f", timeout_s=3).verdict == "passed"
    cheat = "def helper(x):\n    return 0\n\ndef f(x):\n    return 1\n"  # redefines the helper the test trusts
    res = run_program(cheat, test_code=test, test_setup=setup, entry_point="f", timeout_s=3)
    assert res.verdict == "wrong_answer", res
    res = run_program("def g(x):\n    return 1\n", test_code=test, test_setup=setup, entry_point="f", timeout_s=3)
    assert res.verdict == "runtime_error" and "no function 'f'" in res.detail


def test_wire_carries_plain_data_only():
    """Values between program and judge keep their built-in types, and nothing else can be decoded."""
    from r1eval.grading.sandbox import wire

    value = (1, [2.5, float("inf"), -0.0], {3: frozenset({4}), (5, 6): b"\x00x"}, {7}, None, True, 10**5000,
             -(10**5000), 1j, "\u00e9\ud800", [[]], {"t": [1]})
    kind, got = wire.loads(wire.dumps("return", value))
    assert kind == "return" and got == value and [type(x) for x in got] == [type(x) for x in value]
    assert got[5] is True and str(got[1][2]) == "-0.0"
    nan = wire.loads(wire.dumps("return", float("nan")))[1]
    assert nan != nan
    for malformed in (b'{"t": 1}', b'["return", {"t": 1}]', b'["return", {"q": []}]', b'["return", {"t": [], "s": []}]',
                      b'["return", {"s": [[1]]}]', b"[" * 100_000, b'["return", 1', b'["return", 1e999999]x'):
        with pytest.raises((ValueError, TypeError, RecursionError)):
            wire.loads(malformed)

    class Sneaky:
        def __eq__(self, other):
            return True

    with pytest.raises(wire.NotPlain):
        wire.dumps("return", [1, Sneaky()])


def test_outputs_match_like_livecodebench():
    assert outputs_match("3\n", "3")
    assert outputs_match("  1 2 \n3\n\n", "1 2\n3")
    assert outputs_match("1.50\n", "1.5")
    assert outputs_match("3.0", "3")
    assert not outputs_match("1.5000001", "1.5")
    assert outputs_match("1.5000001", "1.5", float_tol=1e-6)
    assert not outputs_match("1 2", "1 2 3")
    assert not outputs_match("1\n2", "1 2")
    assert not outputs_match("Yes", "yes")
    # Decimal comparison, not floats: 2**53 + 1 differs from 2**53
    assert not outputs_match("9007199254740993", "9007199254740992")


@pytest.mark.parametrize(("got", "expected", "tol", "same"), [
    ("sNaN", "1", None, False),  # Decimal('sNaN') == x raises InvalidOperation
    ("sNaN", "sNaN", None, True),  # equal as text
    ("1 sNaN", "1 2", 1e-6, False),
    ("NaN", "NaN", 1e-6, True),
    ("Infinity", "1e999999999", 1e-6, False),
    ("1e999999999", "-1e999999999", 1e-6, False),  # the difference overflows the decimal context
    ("1e-999999999", "0", 1e-6, True),
    ("9" * 100_000, "9" * 99_999 + "8", None, False),  # a huge token compares as text
])
def test_outputs_match_never_raises(got, expected, tol, same):
    assert outputs_match(got, expected, float_tol=tol) is same


def test_run_many_keeps_order():
    results = run_many([Program(f"print({i} * {i})") for i in range(12)], workers=4)
    assert [r.stdout.strip() for r in results] == [str(i * i) for i in range(12)]


def test_functional_and_stdin_runners():
    sol = "class Solution:\n    def f(self, a, b):\n        return (a, b)\n"
    assert sb.run_functional_tests(sol, "f", [("1\n2", "[1, 2]")]).passed  # tuples count as lists
    wrong = "class Solution:\n    def f(self, a, b):\n        return [b, a]\n"
    out = sb.run_functional_tests(wrong, "f", [("1\n2", "[1, 2]")])
    assert out.verdict == "wrong_answer" and out.tests_passed == 0
    assert out.detail == "test 1/1: expected [1, 2], got [2, 1]"
    out = sb.run_stdin_tests("print(int(input()) * 2)", [("2\n", "4\n"), ("5\n", "10\n"), ("1\n", "3\n")])
    assert out.verdict == "wrong_answer" and out.tests_passed == 2
    top_level = "def f(a, b):\n    return a + b\n"
    assert sb.run_functional_tests(top_level, "f", [("1\n2", "3"), ("[1]\n[2]", "[1, 2]")]).passed
    out = sb.run_functional_tests(top_level, "g", [("1\n2", "3")])
    assert out.verdict == "runtime_error" and "no function or Solution method named g" in out.detail


def test_functional_time_limit_is_per_test():
    """Three tests of 0.4 s each pass a 1 s limit (1.2 s in all); one test of 1.5 s does not."""
    sol = "import time\nclass Solution:\n    def f(self, t):\n        time.sleep(t)\n        return t\n"
    assert sb.run_functional_tests(sol, "f", [("0.4", "0.4")] * 3, timeout_s=1).passed
    out = sb.run_functional_tests(sol, "f", [("0.1", "0.1"), ("1.5", "1.5")], timeout_s=1)
    assert (out.verdict, out.tests_passed, out.detail) == ("timeout", 1, "test 2/2: time limit (1 s)")


def test_a_grader_failure_is_that_runs_verdict(monkeypatch):
    """Machinery that fails on one run yields grader_error for that run, and the next run is fine."""
    from r1eval.grading.sandbox import executor

    def broken_spawn(slot, header, fds):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(executor._SERVER, "spawn", broken_spawn)
    res = run_program("print(1)", timeout_s=3)
    assert res.verdict == "grader_error" and "Too many open files" in res.detail
    out = sb.run_stdin_tests("print(1)", [("", "1")])
    assert out.verdict == "grader_error" and not out.passed
    monkeypatch.undo()
    assert run_program("print(1)", timeout_s=3).passed


@needs_root
def test_a_dead_helper_means_one_retry_then_grader_error():
    """The machinery failing mid-run (here: the slot helper killed, as the host's OOM killer might) says
    nothing about the program: the run's processes go and it runs once more on a new helper; a second
    failure is that run's grader_error, and the next run still gets a new helper."""
    import threading
    import time

    import psutil

    server = psutil.Process(sb.isolation_report()["server_pid"])

    def kill_the_helpers(first_after: float, done: threading.Event, every: float | None) -> None:
        time.sleep(first_after)
        while True:
            for helper in server.children():  # the slot helpers (the one serving this run among them)
                helper.kill()
            if every is None or done.wait(every):
                return

    def daemon(token: str, sleep_s: float) -> str:
        return (f"import os, time\nif os.fork() == 0:\n    os.execvp('sleep', ['sleep', '{token}'])\n"
                f"time.sleep({sleep_s})\nprint(1)\n")

    for every, sleep_s, verdict in ((None, 3, "passed"), (0.3, 2, "grader_error")):
        token = f"{secrets.randbelow(10**6) + 10**6}.5"
        done = threading.Event()
        killer = threading.Thread(target=kill_the_helpers, args=(1.0, done, every))
        killer.start()
        res = run_program(daemon(token, sleep_s), timeout_s=10)
        done.set()
        killer.join()
        assert res.verdict == verdict, res
        if verdict == "grader_error":
            assert "helper died" in res.detail
        def leftovers(token: str = token) -> list:
            return [p for p in psutil.process_iter(["cmdline"]) if token in " ".join(p.info["cmdline"] or [])]

        assert wait_until(lambda: not leftovers()), leftovers()  # the daemon sleeps for days: it never ends itself
    assert run_program("print(2)", timeout_s=5).stdout == "2\n"


def test_grader_error_counts_as_incorrect():
    from r1eval.metrics import summarize
    from r1eval.records import Sample

    samples = [Sample("p", 0, 0, "", "c", None, False, 1, "stop", None, {"verdict": "grader_error", "error": "x"}),
               Sample("p", 1, 0, "", "c", None, True, 1, "stop", None, {"verdict": "passed"})]
    assert summarize(samples, bench="b", model="m", n=2, equivalent=None)["pass@1"] == 0.5


@needs_root
def test_isolation_report_as_root():
    info = sb.isolation_report()
    assert info["level"] == "namespaces", info
    assert sb.isolation().startswith("namespaces+seccomp"), info
    lo, hi = info["uids"]
    res = run_program("import os\nprint(os.getuid(), os.getcwd(), sorted(os.listdir('.')))", timeout_s=5)
    uid, cwd, listing = res.stdout.split(maxsplit=2)
    assert lo <= int(uid) < hi and cwd == "/tmp/work" and listing.strip() == "[]"


def test_provenance_records_the_isolation():
    from r1eval.benches import get_bench

    for name in ("humaneval", "livecodebench", "codeforces"):
        prov = get_bench(name).provenance()
        assert prov["grader"] == {"name": "r1eval-sandbox", "version": "3"}
        assert prov["isolation"] == sb.isolation()


def _grader_script(body: str, **env: str) -> subprocess.CompletedProcess:
    code = f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom r1eval.grading import sandbox as sb\n{body}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], **env})


def test_no_isolation_refuses_untrusted_code_unless_allowed():
    """R1EVAL_SANDBOX_ISOLATION=none stands in for a machine without root or user namespaces."""
    proc = _grader_script("try:\n    sb.run_program('print(1)')\nexcept Exception as e:\n"
                          "    print(type(e).__name__, e)\n", R1EVAL_SANDBOX_ISOLATION="none")
    assert proc.stdout.startswith("UsageError") and "`unsafe_no_sandbox`" in proc.stdout, proc
    proc = _grader_script("sb.allow_unsafe_no_sandbox()\nprint(sb.isolation(), sb.run_program('print(6 * 7)').stdout)",
                          R1EVAL_SANDBOX_ISOLATION="none")
    assert proc.stdout.split() in (["none+seccomp", "42"], ["none", "42"]), proc


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1eval.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], **env}, timeout=120)


def test_cli_refuses_without_isolation_and_accepts_the_flag(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"problem_id": "abc900_a", "completion":
                                "<think>x</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"}) + "\n")
    fixture = REPO / "tests" / "data" / "lcb_fixture.jsonl"
    args = ("grade", "--bench", "livecodebench", "--data", str(fixture), "--input", str(rows))
    proc = _cli(*args, R1EVAL_SANDBOX_ISOLATION="none")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc
    assert "--unsafe-no-sandbox" in proc.stderr.strip().splitlines()[-1]  # one line says why and what to do
    proc = _cli(*args, "--unsafe-no-sandbox", R1EVAL_SANDBOX_ISOLATION="none")
    assert proc.returncode == 0 and "(1/1)" in proc.stdout, proc


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]


def _world_executable_python() -> str | None:
    """A Python >= 3.11 that the unprivileged user can start, and whose base interpreter (which starts the
    fork server) it can start too (ours may live under root's home). `sh` makes the path lookup happen
    without capabilities (setpriv still holds them while it execs)."""
    probe = "import os, sys; assert sys.version_info >= (3, 11); os.execv(sys._base_executable, ['python', '-c', '0'])"
    for candidate in (os.path.realpath(sys.executable), shutil.which("python3.11"), "/usr/bin/python3"):
        if candidate and os.path.exists(candidate):
            ok = subprocess.run([*AS_NOBODY, "sh", "-c", 'exec "$0" -c "$1"', candidate, probe], capture_output=True)
            if ok.returncode == 0:
                return candidate
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
def test_rootless_runs_use_user_namespaces():
    """As `nobody`: user namespaces instead of root; the same containment, one uid, no capabilities."""
    python = _world_executable_python()
    if python is None:
        pytest.skip("no Python >= 3.11 that the unprivileged user may execute")
    userns = subprocess.run([*AS_NOBODY, "unshare", "-U", "-r", "true"], capture_output=True)
    if userns.returncode != 0:
        pytest.skip(f"the kernel refuses unprivileged user namespaces ({userns.stderr.decode().strip()})")
    script = REPO / "tests" / "fixtures" / "sandbox_rootless_probe.py"
    proc = subprocess.run([*AS_NOBODY, python, str(script), str(REPO)], capture_output=True, text=True, timeout=120,
                          cwd="/",
                          env={"PATH": "/usr/bin:/bin", "R1EVAL_TEST_SECRET": "rootless-secret-4b1d"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["isolation"].startswith("user-namespaces+seccomp"), report
    assert report["failures"] == [], report["failures"]
