"""Run untrusted Python programs: one sandboxed process per run, verdicts, output checkers.

Public API (all functions are thread-safe; call them from as many threads as you like):

- ``run_program(source, *, stdin="", test_code=None, timeout_s, memory_mb, ...) -> ExecResult``
  Run ``source`` as ``__main__`` with ``stdin`` on its standard input. With ``test_code`` (e.g. a
  HumanEval ``check(candidate)`` call) that code runs afterwards in the same namespace and the program
  passes only if the test code runs to its end: ``exit()``/``os._exit()`` before that is a failure.
- ``run_many(programs, workers=None) -> list[ExecResult]``: many ``Program``s in parallel, in order.
- ``ExecResult``: ``verdict`` (one of VERDICTS: passed, wrong_answer, runtime_error, timeout,
  memory_limit, syntax_error), ``detail`` (one short line), ``stdout``/``stderr`` (capped),
  ``exit_code``, ``wall_s`` (the program's own wall time), ``cpu_s``.
- ``outputs_match(got, expected, float_tol=None)``: LiveCodeBench's stdout checker (line-wise after
  stripping; tokens compared as exact decimals); ``float_tol`` adds a Codeforces-style tolerance.
- ``run_stdin_tests(source, tests, ...)`` / ``run_functional_tests(source, func_name, tests, ...)``
  -> ``TestsOutcome``: LiveCodeBench's two test styles (stdin/stdout programs, one process per test;
  LeetCode ``class Solution`` methods called with JSON arguments, one process for all tests). A
  problem passes only if every test passes; like the official runner, grading stops at the first
  failing test.

How a program is isolated (Linux, as root; see README.md, section "Code execution sandbox"):
a long-lived fork server (a clean ``python -I`` with an empty environment, started on first use)
forks one launcher per run. The launcher starts a new session and unshares new PID, network, mount,
IPC and UTS namespaces; inside, a root reaper (PID 1) makes the whole filesystem read-only, mounts
empty size-limited tmpfs over /tmp, /var/tmp, /dev/shm and /run, mounts a fresh /proc, then forks the
program, which drops to an unprivileged uid of its own (group nogroup, no capabilities, no_new_privs), sets rlimits (CPU, address
space, file size, processes, open files, no core), clears its environment and works in a private
directory under the new /tmp. The network namespace has no interfaces up, so nothing is reachable.
When the program ends (or the wall clock or an output cap runs out and the harness SIGKILLs the
group), the reaper exits and the kernel kills every process left in the PID namespace: nothing
outlives a run, and nothing it wrote persists. Without root (or without namespace support) runs fall
back to session + rlimits + scrubbed env + temp dir only; ``isolation()`` says which is in force.
Not isolated: CPU/memory bandwidth and caches shared with the host, read access to world-readable
host files, /sys, and introspection of the runner's own frames by the program (the pass marker and
test inputs live in the program's process; expected outputs of stdin and functional tests never do).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

SANDBOX_VERSION = "1"  # bump whenever a verdict can change; recorded in config.json and summary.json
VERDICTS = ("passed", "wrong_answer", "runtime_error", "timeout", "memory_limit", "syntax_error")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 2048
DEFAULT_STDOUT_LIMIT = 32 << 20  # bytes; more is a runtime_error ("output limit exceeded")
DEFAULT_STDERR_LIMIT = 1 << 20  # bytes kept; the rest is read and dropped
SETUP_GRACE_S = 10.0  # time allowed for the sandbox to start before the program's own clock runs

SANDBOX_GID = 65534  # nogroup
# Each run in flight gets its own unprivileged uid (no passwd entry), so the per-uid process limit
# and signal permissions never couple two concurrent runs: base + (harness pid % 4096) * 256 + slot.
SANDBOX_UID_BASE = 200_000
MAX_SLOTS = 256
WORKDIR = "/tmp/work"

# LiveCodeBench prepends these imports to every solution (lcb_runner/evaluation/testing_util.py).
LCB_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


# ----------------------------------------------------------------------------------------------
# Results


@dataclass
class ExecResult:
    """What happened to one program."""

    verdict: str
    detail: str = ""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None  # None when killed by a signal
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


@dataclass
class Program:
    """One run for `run_many`: the arguments of `run_program`."""

    source: str
    stdin: str | bytes = ""
    test_code: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    extra: dict[str, Any] = field(default_factory=dict)  # other run_program keyword arguments


# ----------------------------------------------------------------------------------------------
# Sandbox side: runs in the fork server and its children (stdlib only, no r1eval imports).

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
HIDDEN_DIRS = ("/root", "/home")  # replaced by empty tmpfs; only the Python installation is bound back
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE = 442, -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 1, 2
STATUS_FD = 3

# modules the fork server imports once so each program starts with them warm
_PRELOAD = ("string re datetime collections heapq bisect copy math random statistics itertools functools "
            "operator io json typing decimal fractions array traceback resource ctypes tempfile shutil")


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("sandbox request truncated")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _status(msg: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        os.write(STATUS_FD, (json.dumps(msg) + "\n").encode())


def _python_dirs() -> list[str]:
    """Directories of this Python installation (stdlib, site-packages) that lie under HIDDEN_DIRS."""
    found = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
             os.path.dirname(sys.executable), *(p for p in sys.path if os.path.isdir(p))}
    real = sorted({os.path.realpath(p) for p in found})
    under = [p for p in real if any(p == h or p.startswith(h + "/") for h in HIDDEN_DIRS)]
    return [p for p in under if not any(p != q and p.startswith(q + "/") for q in under)]


def _make_filesystem(libc, tmp_mb: int, uid: int, keep: list[str]) -> None:
    """In the new mount namespace: everything private and read-only, fresh tmpfs and /proc on top."""
    import ctypes

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, MS_PRIVATE, 0)  # devices stay usable
    if libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                    ctypes.sizeof(attr)) != 0:
        # kernels before 5.12: make mounts private, then remount each one read-only
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        with open("/proc/self/mountinfo") as fh:
            targets = [line.split()[4] for line in fh]
        for target in targets:
            libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None)
    opts = f"size={tmp_mb}m,mode=1777".encode()
    for target in (b"/tmp", b"/var/tmp", b"/dev/shm", b"/run"):
        if os.path.isdir(target):
            _check(libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, opts), f"tmpfs on {target}")
    held = []
    for i, path in enumerate(keep):  # hold the Python dirs aside, hide home directories, put them back
        hold = f"/run/.keep{i}".encode()
        os.mkdir(hold)
        _check(libc.mount(path.encode(), hold, None, MS_BIND | MS_REC, None), f"bind {path}")
        held.append((hold, path.encode()))
    for hidden in HIDDEN_DIRS:
        if os.path.isdir(hidden):
            _check(libc.mount(b"tmpfs", hidden.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755"),
                   f"tmpfs on {hidden}")
    for hold, path in held:
        os.makedirs(path, 0o755, exist_ok=True)
        _check(libc.mount(hold, path, None, MS_MOVE, None), f"move {path}")
        libc.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None)
        os.rmdir(hold)
    _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    os.mkdir(WORKDIR, 0o700)
    os.chown(WORKDIR, uid, SANDBOX_GID)


def _set_limits(req: dict[str, Any]) -> None:
    import resource

    mem = req["memory_mb"] << 20
    cpu = int(req["timeout_s"]) + 1
    limits = {
        resource.RLIMIT_CPU: cpu,
        resource.RLIMIT_AS: mem,
        resource.RLIMIT_STACK: min(mem, 256 << 20),
        resource.RLIMIT_FSIZE: req["file_mb"] << 20,
        resource.RLIMIT_NPROC: req["nproc"],
        resource.RLIMIT_NOFILE: req["nofile"],
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def _run_user_code(req: dict[str, Any], isolated: bool, libc) -> None:
    """The program's process: drop privileges, set limits, run source (+ test code). Never returns."""
    import builtins
    import io
    import traceback

    try:
        if isolated:
            os.setgroups([])
            os.setgid(SANDBOX_GID)
            os.setuid(req["uid"])
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by setuid, so set after it
        os.chdir(req["workdir"])
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": req["workdir"], "LANG": "C.UTF-8",
                           "TMPDIR": req["workdir"], "USER": "sandbox", "LOGNAME": "sandbox"})
        _set_limits(req)
    except Exception as exc:  # the sandbox could not be built: never run the code unconfined
        _status({"setup_error": f"{type(exc).__name__}: {exc}"})
        os._exit(70)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.argv = ["solution.py"]
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    phases = [("source", req["source"])] + ([("tests", req["test_code"])] if req["test_code"] is not None else [])
    try:
        compiled = [(phase, compile(text, f"<{phase}>", "exec")) for phase, text in phases]
    except (SyntaxError, ValueError) as exc:
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        _status({"syntax_error": f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}"})
        os._exit(1)
    nonce = req["nonce"]
    namespace = {"__name__": req["module_name"], "__builtins__": builtins}
    req = None  # noqa: F841 - drop the request (nonce aside) before user code runs
    _status({"started": 1})
    code = 0
    for phase, obj in compiled:
        try:
            exec(obj, namespace)
        except SystemExit as exc:
            if phase == "source" and len(compiled) == 1 and exc.code in (0, None):
                break  # a stdin program that calls exit() when done
            code = exc.code if isinstance(exc.code, int) else 1
            _status({"exception": "SystemExit", "message": str(exc.code), "phase": phase})
            break
        except BaseException as exc:  # noqa: BLE001 - report every failure of the user's code
            with contextlib.suppress(Exception):
                traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
            _status({"exception": type(exc).__name__, "message": str(exc)[:500], "phase": phase})
            code = 1
            break
    else:
        _status({"done": nonce})
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _launch(fds: list[int], isolated: bool, libc, keep: list[str]) -> None:
    """Forked from the server for one run. Never returns."""
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(len(fds), 1024)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        (size,) = struct.unpack("<Q", _read_exact(0, 8))
        req = json.loads(_read_exact(0, size))
        _status({"pid": os.getpid()})
        if isolated:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _check(libc.unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
        else:
            import tempfile

            req["workdir"] = tempfile.mkdtemp(prefix="r1eval-sandbox-")
    except Exception as exc:
        _status({"setup_error": f"{type(exc).__name__}: {exc}"})
        os._exit(70)
    if not isolated:
        pid = os.fork()
        if pid == 0:
            _run_user_code(req, False, libc)
        _reap(pid, [0, 1, 2])
        import shutil

        shutil.rmtree(req["workdir"], ignore_errors=True)
        os._exit(0)
    reaper = os.fork()
    if reaper:  # the launcher, outside the namespaces: wait for PID 1 and leave
        for fd in (0, 1, 2):
            os.close(fd)
        # Keep the status pipe open until PID 1 is reaped: the kernel reaps it only after every other
        # process of the namespace is gone, so end-of-file on that pipe means nothing is left running.
        os.waitpid(reaper, 0)
        os._exit(0)
    try:  # PID 1 of the new namespace, still root
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _make_filesystem(libc, req["tmp_mb"], req["uid"], keep)
        req["workdir"] = WORKDIR
    except Exception as exc:
        _status({"setup_error": f"{type(exc).__name__}: {exc}"})
        os._exit(70)
    pid = os.fork()
    if pid == 0:
        _run_user_code(req, True, libc)
    _reap(pid, [0, 1, 2])
    os._exit(0)  # PID 1 leaving kills everything else in the namespace


def _reap(pid: int, close_fds: list[int]) -> None:
    """Wait for the program (reaping orphans on the way) and report how it ended."""
    for fd in close_fds:
        os.close(fd)
    while True:
        try:
            got, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return
        if got == pid:
            break
    _status({"exit": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime})


def _serve(sock_fd: int) -> None:
    """The fork server: receive (stdin, stdout, stderr, status) fds, fork a launcher for each."""
    import importlib

    for name in _PRELOAD.split():
        importlib.import_module(name)
    libc = _libc()
    keep = _python_dirs()
    isolated = os.geteuid() == 0 and os.environ.get("R1EVAL_SANDBOX_ISOLATION", "namespaces") != "none"
    # no parent-death signal here: it fires when the *thread* that started us ends (a pool worker);
    # the server leaves when the harness's socket closes instead, which also happens if it is killed
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # launchers are reaped by the kernel
    sock = socket.socket(fileno=sock_fd)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 16, 4)
        except InterruptedError:
            continue
        if not msg:
            return
        if msg == b"probe":
            sock.send(b"isolated" if isolated else b"none")
            continue
        pid = os.fork()
        if pid == 0:
            sock.close()
            _launch(fds, isolated, libc, keep)
        for fd in fds:
            os.close(fd)


# ----------------------------------------------------------------------------------------------
# Harness side


class _ForkServer:
    """One fork server per harness process, (re)started on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self.mode = "unknown"

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        if "R1EVAL_SANDBOX_ISOLATION" in os.environ:
            env["R1EVAL_SANDBOX_ISOLATION"] = os.environ["R1EVAL_SANDBOX_ISOLATION"]
        self._proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), "--serve", str(child.fileno())],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL, cwd="/")
        child.close()
        self._sock = parent
        parent.send(b"probe")
        self.mode = "namespaces" if parent.recv(16) == b"isolated" else "rlimits-only"

    def spawn(self, fds: list[int]) -> None:
        with self._lock:
            for attempt in range(2):
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                try:
                    socket.send_fds(self._sock, [b"run"], fds)
                    return
                except OSError:
                    if attempt:
                        raise
                    self._proc = None

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
            if self._proc is not None:
                self._proc.wait(timeout=10)
            self._proc = self._sock = None


_SERVER = _ForkServer()


class _Slots:
    """Per-run uid slots of this harness process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._free = list(range(MAX_SLOTS))

    def acquire(self) -> int:
        with self._cond:
            while not self._free:
                self._cond.wait()
            return self._free.pop()

    def release(self, slot: int) -> None:
        with self._cond:
            self._free.append(slot)
            self._cond.notify()


_SLOTS = _Slots()


def shutdown() -> None:
    """Stop this process's fork server (the next run starts a fresh one)."""
    _SERVER.close()


def isolation() -> str:
    """'namespaces' (full sandbox) or 'rlimits-only' (not root / no namespaces); starts the server."""
    if _SERVER.mode == "unknown":
        with _SERVER._lock:
            _SERVER._start()
    return _SERVER.mode


def _kill_group(pid: int | None) -> None:
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def run_program(source: str, *, stdin: str | bytes = "", test_code: str | None = None, module_name: str = "__main__",
                timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                file_mb: int = 16, tmp_mb: int = 64, nproc: int = 64, nofile: int = 256,
                stdout_limit: int = DEFAULT_STDOUT_LIMIT, stderr_limit: int = DEFAULT_STDERR_LIMIT) -> ExecResult:
    """Run one Python program in the sandbox and classify how it ended (see the module docstring).

    module_name is the `__name__` the code sees (LiveCodeBench runs functional solutions as a module, so
    their `if __name__ == "__main__"` blocks do not run). timeout_s is wall-clock time from the moment the program starts (CPU time is capped at
    timeout_s + 1 too); memory_mb caps the address space; file_mb caps any one file it writes;
    tmp_mb sizes its private /tmp; nproc caps processes and threads of the sandbox user.
    """
    slot = _SLOTS.acquire()
    try:
        return _run(source, stdin, test_code, module_name, timeout_s, memory_mb, file_mb, tmp_mb, nproc, nofile,
                    stdout_limit, stderr_limit, SANDBOX_UID_BASE + (os.getpid() % 4096) * MAX_SLOTS + slot)
    finally:
        _SLOTS.release(slot)


def _run(source: str, stdin: str | bytes, test_code: str | None, module_name: str, timeout_s: float,
         memory_mb: int, file_mb: int, tmp_mb: int, nproc: int, nofile: int, stdout_limit: int, stderr_limit: int,
         uid: int) -> ExecResult:
    import selectors

    nonce = secrets.token_hex(16)
    req = {"uid": uid, "source": source, "test_code": test_code, "module_name": module_name, "nonce": nonce, "timeout_s": timeout_s,
           "memory_mb": memory_mb, "file_mb": file_mb, "tmp_mb": tmp_mb, "nproc": nproc, "nofile": nofile}
    header = json.dumps(req).encode()
    payload = memoryview(struct.pack("<Q", len(header)) + header
                         + (stdin if isinstance(stdin, bytes) else stdin.encode()))
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    st_r, st_w = os.pipe()
    try:
        _SERVER.spawn([in_r, out_w, err_w, st_w])
    finally:
        for fd in (in_r, out_w, err_w, st_w):
            os.close(fd)
    for fd in (in_w, out_r, err_r, st_r):
        os.set_blocking(fd, False)
    out, err, status = bytearray(), bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    sel.register(in_w, selectors.EVENT_WRITE, "in")
    sel.register(out_r, selectors.EVENT_READ, "out")
    sel.register(err_r, selectors.EVENT_READ, "err")
    sel.register(st_r, selectors.EVENT_READ, "status")
    t_spawn = time.monotonic()
    deadline = t_spawn + SETUP_GRACE_S + timeout_s
    t_start: float | None = None
    pid: int | None = None
    killed: str | None = None
    open_reads = 3
    try:
        while open_reads:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if killed is None:
                    killed = "timeout"
                    _kill_group(pid)
                    deadline = time.monotonic() + 5.0  # the pipes close once the namespace is gone
                    continue
                raise RuntimeError("sandboxed process group did not exit after SIGKILL")
            for key, _ in sel.select(min(wait, 1.0)):
                name, fd = key.data, key.fd
                if name == "in":
                    try:
                        n = os.write(fd, payload[:1 << 16])
                    except (BrokenPipeError, BlockingIOError) as exc:
                        n = len(payload) if isinstance(exc, BrokenPipeError) else 0
                    payload = payload[n:]
                    if not payload:
                        sel.unregister(fd)
                        os.close(fd)
                        in_w = -1
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    open_reads -= 1
                    continue
                if name == "out":
                    out += chunk
                    if len(out) > stdout_limit and killed is None:
                        killed = "output"
                        _kill_group(pid)
                elif name == "err":
                    if len(err) < stderr_limit:
                        err += chunk[: stderr_limit - len(err)]
                else:
                    status += chunk
                    if len(status) > stdout_limit and killed is None:
                        killed = "output"
                        _kill_group(pid)
                    if pid is None or t_start is None:
                        for msg in _messages(status):
                            if pid is None and "pid" in msg:
                                pid = int(msg["pid"])
                            if t_start is None and "started" in msg:
                                t_start = time.monotonic()
                                deadline = t_start + timeout_s
    finally:
        sel.close()
        for fd in (in_w, out_r, err_r, st_r):
            if fd >= 0:
                os.close(fd)
    wall = time.monotonic() - (t_start or t_spawn)
    return _classify(_messages(status), nonce, test_code is not None, killed, bytes(out), bytes(err), wall,
                     timeout_s, stdout_limit)


def _messages(status: bytes | bytearray) -> list[dict[str, Any]]:
    msgs = []
    for line in bytes(status).split(b"\n"):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            msgs.append(msg)
    return msgs


def _classify(msgs: list[dict[str, Any]], nonce: str, needs_done: bool, killed: str | None, out: bytes,
              err: bytes, wall: float, timeout_s: float, stdout_limit: int) -> ExecResult:
    stdout = out[:stdout_limit].decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    exits = [m for m in msgs if "exit" in m]
    end = exits[-1] if exits else {}
    code = end.get("exit")
    cpu = float(end.get("cpu_s", 0.0) or 0.0)
    res = ExecResult("runtime_error", "", stdout, stderr, code if isinstance(code, int) and code >= 0 else None,
                     round(wall, 4), round(cpu, 4))
    setup = next((m["setup_error"] for m in msgs if "setup_error" in m), None)
    syntax = next((m["syntax_error"] for m in msgs if "syntax_error" in m), None)
    exc = next((m for m in msgs if "exception" in m), None)
    done = any(m.get("done") == nonce for m in msgs)
    if killed == "output":
        res.verdict, res.detail = "runtime_error", f"output limit exceeded ({stdout_limit} bytes)"
    elif killed == "timeout":
        res.verdict, res.detail = "timeout", f"wall time limit exceeded ({timeout_s:g} s)"
    elif setup is not None:
        raise RuntimeError(f"sandbox setup failed: {setup}")
    elif syntax is not None:
        res.verdict, res.detail = "syntax_error", syntax
    elif isinstance(code, int) and code < 0 and cpu >= int(timeout_s) + 1 - 0.05:
        res.verdict, res.detail = "timeout", f"CPU time limit exceeded ({cpu:.1f} s)"
    elif exc is not None:
        name, message = str(exc.get("exception")), str(exc.get("message", ""))[:200]
        if name == "MemoryError":
            res.verdict, res.detail = "memory_limit", "MemoryError (address space limit reached)"
        elif name == "AssertionError" and exc.get("phase") == "tests":
            res.verdict, res.detail = "wrong_answer", f"AssertionError: {message}".rstrip(": ")
        elif name == "SystemExit":
            res.detail = f"exit({message}) before the tests finished" if needs_done else f"exit code {message}"
        else:
            res.detail = f"{name}: {message}".rstrip(": ")
    elif isinstance(code, int) and code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        res.detail = f"killed by {name}"
        if sig == signal.SIGXFSZ:
            res.detail += " (file size limit)"
    elif code != 0 and code is not None:
        res.detail = f"exit code {code}"
    elif code is None:
        res.detail = "the sandbox reported no exit status"
    elif needs_done and not done:
        res.detail = "exited before the tests finished"
    else:
        res.verdict, res.detail = "passed", ""
    return res


def run_many(programs: Iterable[Program], workers: int | None = None) -> list[ExecResult]:
    """Run programs in parallel (default: one per CPU core); results in input order."""
    programs = list(programs)
    workers = workers or os.cpu_count() or 1

    def one(p: Program) -> ExecResult:
        return run_program(p.source, stdin=p.stdin, test_code=p.test_code, timeout_s=p.timeout_s,
                           memory_mb=p.memory_mb, **p.extra)

    if workers == 1 or len(programs) <= 1:
        return [one(p) for p in programs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, programs))


# ----------------------------------------------------------------------------------------------
# Test styles


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def outputs_match(got: str, expected: str, float_tol: float | None = None) -> bool:
    """LiveCodeBench's stdout check: same number of stripped lines, each equal as text or as a list
    of exact decimals. With float_tol, numbers also match within that absolute-or-relative tolerance."""
    got_lines, exp_lines = _stripped_lines(got), _stripped_lines(expected)
    if len(got_lines) != len(exp_lines):
        return False
    for g, e in zip(got_lines, exp_lines, strict=True):
        if g == e:
            continue
        gd, ed = _decimals(g), _decimals(e)
        if gd is None or ed is None or len(gd) != len(ed):
            return False
        if gd == ed:
            continue
        if float_tol is None:
            return False
        tol = Decimal(str(float_tol))
        if not all(abs(a - b) <= tol * max(Decimal(1), abs(b)) for a, b in zip(gd, ed, strict=True)):
            return False
    return True


@dataclass
class TestsOutcome:
    """A problem's verdict over its tests (the first failing test decides it)."""

    verdict: str
    detail: str
    tests_passed: int
    tests_total: int
    wall_s: float

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


def _truncate(text: str, n: int = 120) -> str:
    text = repr(text) if not isinstance(text, str) else text
    return text if len(text) <= n else text[: n // 2] + " ... " + text[-n // 2:]


def run_stdin_tests(source: str, tests: Sequence[tuple[str, str]], *, timeout_s: float = 6.0,
                    memory_mb: int = DEFAULT_MEMORY_MB, float_tol: float | None = None,
                    add_lcb_imports: bool = True) -> TestsOutcome:
    """Run a stdin/stdout program once per (input, expected output) test, in order, stopping at the
    first failure. `add_lcb_imports` prepends LiveCodeBench's standard imports as its runner does."""
    program = (LCB_IMPORTS + "\n" + source) if add_lcb_imports else source
    total_wall = 0.0
    for i, (test_in, test_out) in enumerate(tests):
        res = run_program(program, stdin=test_in, timeout_s=timeout_s, memory_mb=memory_mb)
        total_wall += res.wall_s
        if res.passed and not outputs_match(res.stdout, test_out, float_tol):
            res.verdict = "wrong_answer"
            res.detail = f"expected {_truncate(test_out.strip())!r}, got {_truncate(res.stdout.strip())!r}"
        if not res.passed:
            return TestsOutcome(res.verdict, f"test {i + 1}/{len(tests)}: {res.detail}", i, len(tests), total_wall)
    return TestsOutcome("passed", "", len(tests), len(tests), total_wall)


_FUNCTIONAL_DRIVER = '''
def __r1eval_driver(func_name, inputs, timeout_s, marker):
    import json as _json, os as _os, signal as _signal, sys as _sys

    class _TimeLimit(BaseException):
        pass

    def _alarm(signum, frame):
        raise _TimeLimit()

    def _emit(i, kind, payload):
        try:
            _sys.stdout.flush()
        except BaseException:
            pass
        line = "\\n" + marker + _json.dumps([i, kind, payload]) + "\\n"
        _os.write(1, line.encode("utf-8", "backslashreplace"))

    target = globals().get("Solution")
    target = target() if "class Solution" in __r1eval_source else None
    method = getattr(target, func_name, None) if target is not None else globals().get(func_name)
    if method is None:
        _emit(-1, "error", "no function or Solution method named " + func_name)
        return
    _signal.signal(_signal.SIGALRM, _alarm)
    for i, text in enumerate(inputs):
        args = [_json.loads(line) for line in text.split("\\n")]
        _signal.setitimer(_signal.ITIMER_REAL, timeout_s)
        try:
            out = method(*args)
            _signal.setitimer(_signal.ITIMER_REAL, 0)
        except _TimeLimit:
            _emit(i, "timeout", "")
            return
        except BaseException as exc:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _emit(i, "error", type(exc).__name__ + ": " + str(exc)[:300])
            return
        if isinstance(out, tuple):
            out = list(out)
        try:
            text_out = repr(out)
        except BaseException as exc:
            text_out = "<unrepresentable " + type(exc).__name__ + ">"
        _emit(i, "ok", text_out)
'''


def run_functional_tests(source: str, func_name: str, tests: Sequence[tuple[str, str]], *,
                         timeout_s: float = 6.0, memory_mb: int = DEFAULT_MEMORY_MB,
                         add_lcb_imports: bool = True) -> TestsOutcome:
    """LeetCode-style tests the LiveCodeBench way: each input is newline-separated JSON arguments,
    each output one JSON value; `Solution().<func_name>(*args)` (or a top-level function) must return
    a value equal to it (tuples count as lists). Only inputs enter the sandbox; outputs come back as
    repr() and are compared here."""
    import ast

    marker = "@@r1eval-" + secrets.token_hex(12) + "@@"
    program = (LCB_IMPORTS + "\n" + source) if add_lcb_imports else source
    test_code = (_FUNCTIONAL_DRIVER + f"\n__r1eval_source = {program!r}\n"
                 f"__r1eval_driver({func_name!r}, {[t[0] for t in tests]!r}, {float(timeout_s)!r}, {marker!r})\n")
    res = run_program(program, test_code=test_code, module_name="solution", timeout_s=(timeout_s + 1) * max(len(tests), 1) + 5,
                      memory_mb=memory_mb)
    results: dict[int, tuple[str, str]] = {}
    for line in res.stdout.split("\n"):
        if line.startswith(marker):
            try:
                i, kind, payload = json.loads(line[len(marker):])
                results[int(i)] = (str(kind), str(payload))
            except (ValueError, TypeError):
                continue
    if -1 in results:
        return TestsOutcome("runtime_error", results[-1][1], 0, len(tests), res.wall_s)
    for i, (_, expected_text) in enumerate(tests):
        where = f"test {i + 1}/{len(tests)}"
        if i not in results:
            detail = res.detail or "no result"
            verdict = res.verdict if res.verdict != "passed" else "runtime_error"
            return TestsOutcome(verdict, f"{where}: {detail}", i, len(tests), res.wall_s)
        kind, payload = results[i]
        if kind == "timeout":
            return TestsOutcome("timeout", f"{where}: time limit ({timeout_s:g} s)", i, len(tests), res.wall_s)
        if kind == "error":
            verdict = "memory_limit" if payload.startswith("MemoryError") else "runtime_error"
            return TestsOutcome(verdict, f"{where}: {payload}", i, len(tests), res.wall_s)
        try:
            expected = json.loads(expected_text)
        except ValueError:
            return TestsOutcome("runtime_error", f"{where}: expected output is not JSON", i, len(tests), res.wall_s)
        try:
            got = ast.literal_eval(payload) if len(payload) < (16 << 20) else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            got = None
        if got != expected:
            return TestsOutcome("wrong_answer", f"{where}: expected {_truncate(expected_text)}, got {_truncate(payload)}",
                                i, len(tests), res.wall_s)
    if not res.passed:  # every test answered, then the process failed (e.g. killed at exit)
        return TestsOutcome(res.verdict, res.detail, len(tests), len(tests), res.wall_s)
    return TestsOutcome("passed", "", len(tests), len(tests), res.wall_s)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--serve":
    _serve(int(sys.argv[2]))
