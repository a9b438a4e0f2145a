"""The sandbox executor: verdicts, checkers, and a hostile-program suite that must stay contained."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import psutil
import pytest

from r1eval.grading import sandbox as sb
from r1eval.grading.sandbox import Program, outputs_match, run_many, run_program

needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0, reason="full isolation needs root (user, mount, PID and network namespaces)")


def test_stdin_stdout_roundtrip_and_large_input():
    data = "x" * (5 << 20)
    res = run_program("import sys\ns = sys.stdin.read()\nprint(len(s), s[:3])", stdin=data, timeout_s=10)
    assert res.verdict == "passed", res
    assert res.stdout == f"{len(data)} xxx\n"


@pytest.mark.parametrize(("source", "verdict"), [
    ("print(1", "syntax_error"),
    ("raise ValueError('boom')", "runtime_error"),
    ("import sys\nsys.exit(3)", "runtime_error"),
    ("import sys\nprint('ok')\nsys.exit(0)", "passed"),
    ("x = bytearray(64 * 1024 ** 3)", "memory_limit"),
    ("while True:\n    pass", "timeout"),
])
def test_verdicts(source, verdict):
    res = run_program(source, timeout_s=1.5, memory_mb=512)
    assert res.verdict == verdict, res
    assert res.verdict in sb.VERDICTS


def test_test_code_must_finish():
    assert run_program("def f(): return 1", test_code="assert f() == 1", timeout_s=3).verdict == "passed"
    assert run_program("def f(): return 2", test_code="assert f() == 1", timeout_s=3).verdict == "wrong_answer"
    assert run_program("exit(0)", test_code="assert False", timeout_s=3).verdict == "runtime_error"


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


def test_run_many_keeps_order():
    results = run_many([Program(f"print({i} * {i})") for i in range(12)], workers=4)
    assert [r.stdout.strip() for r in results] == [str(i * i) for i in range(12)]


def test_functional_and_stdin_runners():
    sol = "class Solution:\n    def f(self, a, b):\n        return (a, b)\n"
    assert sb.run_functional_tests(sol, "f", [("1\n2", "[1, 2]")]).passed  # tuples count as lists
    wrong = "class Solution:\n    def f(self, a, b):\n        return [b, a]\n"
    out = sb.run_functional_tests(wrong, "f", [("1\n2", "[1, 2]")])
    assert out.verdict == "wrong_answer" and out.tests_passed == 0
    out = sb.run_stdin_tests("print(int(input()) * 2)", [("2\n", "4\n"), ("5\n", "10\n"), ("1\n", "3\n")])
    assert out.verdict == "wrong_answer" and out.tests_passed == 2


# ------------------------------------------------------------------------------------------------
# Hostile programs


@pytest.fixture(scope="module")
def host_sentinels():
    """World-writable files and directories outside the sandbox that hostile programs go after."""
    root = Path(__file__).resolve().parent / f".sandbox-sentinel-{secrets.token_hex(4)}"
    root.mkdir()
    root.chmod(0o777)
    target = root / "keep.txt"
    target.write_text("original")
    target.chmod(0o666)
    yield root, target
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    root.rmdir()


def _our_uids() -> range:
    base = sb.SANDBOX_UID_BASE + (os.getpid() % 4096) * sb.MAX_SLOTS
    return range(base, base + sb.MAX_SLOTS)


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


def _processes_of(uids: range) -> list[int]:
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@needs_namespaces
def test_hostile_programs_are_contained(host_sentinels, tmp_path, monkeypatch):
    sentinel_dir, sentinel = host_sentinels
    host_tmp_file = tmp_path / "host.txt"
    host_tmp_file.write_text("host")
    tok = secrets.token_hex(6)
    sleep_a, sleep_b = f"{secrets.randbelow(10**6) + 10**6}.25", f"{secrets.randbelow(10**6) + 10**6}.75"
    persist = f"/tmp/r1eval-persist-{tok}"
    shm = f"/dev/shm/r1eval-{tok}"
    secret = f"SECRET-{secrets.token_hex(8)}"
    this_file = Path(__file__).read_bytes()
    # children other tests in this pytest process left on purpose (grader pools, multiprocessing helpers)
    before = {c.pid for c in psutil.Process().children(recursive=True)}

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]

    # the secret exists in the harness environment only; restart the fork server so it could inherit it
    monkeypatch.setenv("R1EVAL_TEST_SECRET", secret)
    sb.shutdown()

    cases: list[tuple[str, str, set[str], dict]] = [
        ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
         {"timeout"}, {"timeout_s": 2}),
        ("thread bomb", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n",
         {"runtime_error"}, {"timeout_s": 5}),
        ("memory bomb, one block", "x = bytearray(64 * 1024 ** 3)\n", {"memory_limit"}, {"memory_mb": 512}),
        ("memory bomb, gradual", "l = []\nwhile True:\n    l.append(bytearray(10 ** 7))\n", {"memory_limit"},
         {"memory_mb": 256}),
        ("infinite loop", "while True:\n    pass\n", {"timeout"}, {"timeout_s": 1.5}),
        ("loop ignoring signals", "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
         "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n", {"timeout"}, {"timeout_s": 1.5}),
        ("sleep forever", "import time\ntime.sleep(10 ** 6)\n", {"timeout"}, {"timeout_s": 1.5}),
        ("daemon outliving the run",
         f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         f"        os.execvp('sleep', ['sleep', '{sleep_a}'])\n    os._exit(0)\nprint('parent done')\n",
         {"passed"}, {}),
        ("background shell job", f"import subprocess\nsubprocess.run(['sh', '-c', 'sleep {sleep_b} &'])\nprint('ok')\n",
         {"passed"}, {}),
        ("disk fill, one file", "with open('big', 'wb') as f:\n    f.write(b'0' * (200 << 20))\n", {"runtime_error"},
         {"memory_mb": 1024}),
        ("disk fill, many files", "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * (1 << 20))\n    i += 1\n",
         {"runtime_error"}, {}),
        ("write outside the working dir", f"open({str(sentinel_dir / 'new.txt')!r}, 'w').write('x')\n",
         {"runtime_error"}, {}),
        ("overwrite a world-writable file", f"open({str(sentinel)!r}, 'w').write('pwned')\n", {"runtime_error"}, {}),
        ("delete outside the working dir", f"import os, shutil\nos.remove({str(sentinel)!r})\n", {"runtime_error"}, {}),
        ("rmtree outside the working dir", f"import shutil\nshutil.rmtree({str(sentinel_dir)!r})\n",
         {"runtime_error"}, {}),
        ("write the host's /tmp", f"open({str(host_tmp_file)!r}, 'w').write('pwned')\n", {"runtime_error"}, {}),
        ("write into the repo", f"open({str(Path(__file__).resolve())!r}, 'a').write('# pwned')\n",
         {"runtime_error"}, {}),
        ("files in /tmp and /dev/shm do not persist", f"open({persist!r}, 'w').write('x')\nopen({shm!r}, 'w').write('x')\n",
         {"passed"}, {}),
        ("read environment secrets",
         "import os, glob\nprint(dict(os.environ))\nfor p in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):\n"
         "    try:\n        print(open(p, 'rb').read())\n    except OSError:\n        pass\n", {"passed"}, {}),
        ("read root-only files", "print(open('/etc/shadow').read())\n", {"runtime_error"}, {}),
        ("read root's home", "import os\nprint(os.listdir('/root/.cache'))\n", {"runtime_error"}, {}),
        ("network, outside", "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n",
         {"runtime_error"}, {}),
        ("network, harness loopback", f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n",
         {"runtime_error"}, {}),
        ("dns", "import socket\nsocket.getaddrinfo('pypi.org', 443)\n", {"runtime_error"}, {}),
        ("stdout flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {"runtime_error"},
         {"timeout_s": 5, "stdout_limit": 1 << 20}),
        ("stderr flood", "import sys\nwhile True:\n    sys.stderr.write('e' * 65536)\n", {"timeout"},
         {"timeout_s": 1.5, "stderr_limit": 1 << 16}),
        ("kill the parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", {"runtime_error"}, {}),
        ("kill every process it can", "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\nprint('still here')\n",
         {"passed"}, {}),
        ("kill its own group", "import os, signal\nos.killpg(0, signal.SIGKILL)\n", {"runtime_error"}, {}),
        ("kill pids in a range", "import os\nfor pid in range(1, 4096):\n    try:\n        os.kill(pid, 9)\n"
         "    except OSError:\n        pass\n", {"passed", "runtime_error"}, {}),
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
    assert len(cases) >= 20
    programs = []
    for _, source, _, kw in cases:
        kw = dict(kw)
        programs.append(Program(source, test_code=kw.pop("test_code", None), timeout_s=kw.pop("timeout_s", 5),
                                 memory_mb=kw.pop("memory_mb", 1024), extra=kw))
    results = run_many(programs, workers=8)
    failures = [f"{name}: {res.verdict} ({res.detail})" for (name, _, want, _), res in zip(cases, results, strict=True)
                if res.verdict not in want]
    assert not failures, failures

    by_name = {name: res for (name, *_), res in zip(cases, results, strict=True)}
    assert by_name["daemon outliving the run"].stdout == "parent done\n"
    assert by_name["kill every process it can"].stdout == "still here\n"
    assert "output limit" in by_name["stdout flood"].detail
    assert len(by_name["stderr flood"].stderr.encode()) <= 1 << 16
    assert "mount denied" in by_name["remount / read-write"].detail
    leaked = by_name["read environment secrets"].stdout
    assert secret not in leaked and "R1EVAL_TEST_SECRET" not in leaked

    # files outside are untouched and nothing the programs wrote persists
    assert sentinel.read_text() == "original"
    assert sorted(p.name for p in sentinel_dir.iterdir()) == ["keep.txt"]
    assert host_tmp_file.read_text() == "host"
    assert Path(__file__).read_bytes() == this_file
    assert not os.path.exists(persist) and not os.path.exists(shm)
    # the harness's loopback listener never saw a connection
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    # no process is left: no daemon, no sandbox uid, only the fork server among our new children
    assert _processes_with(sleep_a) == [] and _processes_with(sleep_b) == []
    assert _processes_of(_our_uids()) == []
    children = psutil.Process().children(recursive=True)
    left = [c for c in children if c.pid not in before and "--serve" not in c.cmdline()]
    assert left == [], [c.cmdline() for c in left]
    assert sum("--serve" in c.cmdline() for c in children) == 1
    # and the harness still works
    assert run_program("print('alive')", timeout_s=5).stdout == "alive\n"


@needs_namespaces
def test_isolation_reports_namespaces():
    assert sb.isolation() == "namespaces"
    res = run_program("import os\nprint(os.getuid(), sorted(os.listdir('/proc'))[:0], os.getcwd())", timeout_s=5)
    uid = int(res.stdout.split()[0])
    assert uid in _our_uids() and res.stdout.rstrip().endswith("/tmp/work")
    # the working directory is private and empty for every run
    assert run_program("import os\nprint(os.listdir('.'))", timeout_s=5).stdout == "[]\n"


def test_leak_check_sees_a_real_leftover_process():
    """The leftover-process check used above finds a process that is really there."""
    import subprocess
    import time

    token = f"{secrets.randbelow(10**6) + 10**6}.5"
    proc = subprocess.Popen(["sleep", token])
    try:
        deadline = time.monotonic() + 5
        while not _processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec'd sleep
        assert _processes_with(token) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
