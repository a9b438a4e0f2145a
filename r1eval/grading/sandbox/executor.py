"""Harness side of the sandbox: start the fork server, send runs, read what the sandbox reports, classify.

Every function here is thread-safe. A failure of the sandbox machinery on one run becomes that run's
`grader_error` verdict; it never raises into the caller (the one exception: `UsageError` when no
isolation is available and `allow_unsafe_no_sandbox()` was not called).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.grading.sandbox import wire
from r1eval.workers import thread_map

SANDBOX_VERSION = "3"  # bump whenever a verdict can change; recorded in config.json and summary.json
VERDICTS = ("passed", "wrong_answer", "runtime_error", "timeout", "memory_limit", "syntax_error", "compile_error",
            "grader_error")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 2048
DEFAULT_STDOUT_LIMIT = 32 << 20  # bytes; more is a runtime_error ("output limit exceeded")
DEFAULT_STDERR_LIMIT = 1 << 20  # bytes kept; the rest is read and dropped
CHECK_STDOUT_KEPT = 64 << 10  # stdout kept from check and functional runs (it decides nothing there)
HUMANEVAL_REPLY_CAP = 16 << 20  # bytes of one return value the judge reads in a check run
SETUP_GRACE_S = 10.0  # time allowed for the sandbox to start and end around the program's own clock
STATUS_CAP = 1 << 20  # bytes of status read from the sandbox (its lines are short; this is a backstop)
STDERR_DRAIN = 16 << 20  # stderr bytes read in all; past this the harness stops reading (the program's writes
# block, and the run times out): a flood costs the grader at most this much reading
HINT_MAX = 4096  # bytes of a stdin program's failure hint read (300 characters are kept)
_RUN_IDS = itertools.count(1)
# Third-party packages programs may import (read-only, when installed where r1eval runs); everything
# else a program sees of Python is the interpreter's standard library.
SANDBOX_PACKAGES = ("numpy", "sortedcontainers")
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
# The fork server imports only the sandbox side (server, confinement, program, judge, wire): the packages
# on the way are created empty, so their __init__ (and this harness-side module) never run in it, and
# every process forked from it stays small.
_BOOT = ("import sys, types\n"
         "for name in ('r1eval', 'r1eval.grading', 'r1eval.grading.sandbox'):\n"
         "    package = sys.modules[name] = types.ModuleType(name)\n"
         "    package.__path__ = [sys.argv[1] + '/' + name.replace('.', '/')]\n"
         "from r1eval.grading.sandbox.server import main\n"
         "main(sys.argv[2:])\n")


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
    tests_passed: int | None = None  # functional runs: tests passed before the first failure
    tests_total: int | None = None

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
# The fork server


def _package_paths() -> list[str]:
    """Directories (or module files) of SANDBOX_PACKAGES installed here, plus their bundled-library dirs."""
    import importlib.util

    paths = []
    for name in SANDBOX_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        path = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
        paths.append(os.path.realpath(path))
        libs = os.path.join(os.path.dirname(path), f"{name}.libs")
        if os.path.isdir(libs):
            paths.append(os.path.realpath(libs))
    return paths


class _ForkServer:
    """One fork server per harness process, (re)started on demand, and the sockets to its slot helpers
    (runs go to a slot's helper directly; the server only starts helpers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._helpers: dict[int, socket.socket] = {}
        self.info: dict[str, Any] = {}

    def _start(self) -> None:
        self._forget_helpers()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        options = {"packages": _package_paths(),
                   "force_none": os.environ.get("R1EVAL_SANDBOX_ISOLATION", "") == "none"}
        executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        self._proc = subprocess.Popen(
            [executable, "-I", "-S", "-c", _BOOT, _REPO_ROOT, str(child.fileno()), json.dumps(options)],
            pass_fds=[child.fileno()], env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
        child.close()
        self._sock = parent
        parent.settimeout(120)
        why = ""
        try:
            parent.send(b"probe")
            reply = parent.recv(1 << 16)
        except OSError as exc:
            reply, why = b"", str(exc)
        finally:
            parent.settimeout(None)
        if not reply:
            self._proc.kill()
            code = self._proc.wait()
            raise UsageError(f"the code sandbox could not start ({why or f'exit code {code}'}); "
                             "its error output, if any, is above")
        self.info = json.loads(reply)

    def ensure_started(self) -> dict[str, Any]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            return self.info

    def _helper(self, slot: int) -> socket.socket:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            sock = self._helpers.get(slot)
            if sock is None:
                self._sock.send(f"helper {slot}".encode())
                _, fds, _, _ = socket.recv_fds(self._sock, 16, 1)
                if not fds:
                    raise RuntimeError("the fork server started no helper")
                sock = self._helpers[slot] = socket.socket(fileno=fds[0])
            return sock

    def spawn(self, slot: int, header: bytes, fds: list[int]) -> socket.socket:
        """Hand one run's header and descriptors to the slot's helper (a new one if the old one is gone);
        returns the socket to that helper."""
        for attempt in range(2):
            sock = self._helper(slot)
            try:
                socket.send_fds(sock, [header], fds)
                return sock
            except OSError:
                self.forget(slot, sock)
                if attempt:
                    raise

    def forget(self, slot: int, sock: socket.socket) -> None:
        """Drop a slot's helper (gone, or not to be used again): the slot's next run starts a new one."""
        with self._lock:
            if self._helpers.get(slot) is sock:
                del self._helpers[slot]
        sock.close()

    def _forget_helpers(self) -> None:
        for sock in self._helpers.values():
            sock.close()
        self._helpers.clear()

    def close(self) -> None:
        with self._lock:
            self._forget_helpers()
            if self._sock is not None:
                self._sock.close()
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = self._sock = None
            self.info = {}


_SERVER = _ForkServer()
_UNSAFE = {"allowed": False}


class _Slots:
    """Run slots of this harness process: each run in flight has its own uids and cgroup. A slot whose run
    could not be confirmed gone is quarantined until its first process (a pidfd) has ended."""

    def __init__(self, n: int) -> None:
        self._cond = threading.Condition()
        self._free = list(range(n))
        self._quarantined: dict[int, int] = {}  # slot -> pidfd of the run's PID 1

    def acquire(self) -> int:
        with self._cond:
            while True:
                self._reclaim()
                if self._free:
                    return self._free.pop()
                self._cond.wait(0.5 if self._quarantined else None)

    def release(self, slot: int) -> None:
        with self._cond:
            self._free.append(slot)
            self._cond.notify()

    def quarantine(self, slot: int, pidfd: int) -> None:
        with self._cond:
            self._quarantined[slot] = pidfd
            self._reclaim()

    def free_count(self) -> int:
        with self._cond:
            self._reclaim()
            return len(self._free)

    def _reclaim(self) -> None:
        for slot, pidfd in list(self._quarantined.items()):
            if select.select([pidfd], [], [], 0)[0]:  # the run's PID 1 has ended: nothing of it is left
                os.close(pidfd)
                del self._quarantined[slot]
                self._free.append(slot)
                self._cond.notify()


_SLOTS = _Slots(255)  # confinement.MAX_SLOTS - 1; the last slot is the fork server's self-test


def allow_unsafe_no_sandbox(allowed: bool = True) -> None:
    """Let runs execute where no isolation is available (`--unsafe-no-sandbox`): programs then run with
    rlimits, seccomp (where available) and a scrubbed environment only, as the current user."""
    _UNSAFE["allowed"] = allowed


def isolation_report() -> dict[str, Any]:
    """{'level': 'namespaces' | 'user-namespaces' | 'none', 'isolation': e.g. 'namespaces+seccomp+cgroup-v1',
    'reasons': [what is missing and why]}; starts the fork server."""
    return dict(_SERVER.ensure_started())


def isolation() -> str:
    """The isolation runs get, e.g. 'namespaces+seccomp+cgroup-v1' (root), 'user-namespaces+seccomp'
    (rootless) or 'none' (only with allow_unsafe_no_sandbox). Raises UsageError when there is no
    isolation and unsafe runs were not allowed."""
    info = _SERVER.ensure_started()
    if info["level"] == "none" and not _UNSAFE["allowed"]:
        why = "; ".join(info.get("reasons") or ["unknown"])
        raise UsageError(f"no sandbox isolation for untrusted code on this machine ({why}); run as root or where "
                         "unprivileged user namespaces are enabled, or pass `unsafe_no_sandbox` "
                         "(r1eval.grading.sandbox.allow_unsafe_no_sandbox()) to run it unconfined")
    return info["isolation"]


def shutdown() -> None:
    """Stop this process's fork server (the next run starts a fresh one)."""
    _SERVER.close()


# ----------------------------------------------------------------------------------------------
# One run


@dataclass
class RunRequest:
    """Everything one sandboxed run needs. mode: 'stdin' (a program with stdin; exit status and output
    decide), 'check' (test code runs in the judge against the program's callables) or 'functional'
    (the judge calls one function per test)."""

    mode: str
    source: str
    module_name: str = "__main__"
    stdin: bytes = b""
    judge: dict[str, Any] | None = None  # the judge's tests (check and functional runs)
    wall_s: float = DEFAULT_TIMEOUT_S  # the helper's wall clock for the whole run
    cpu_s: int = 11  # RLIMIT_CPU of each of the program's processes
    memory_mb: int = DEFAULT_MEMORY_MB
    file_mb: int = 16
    tmp_mb: int = 64
    nproc: int = 64
    nofile: int = 256
    stdout_limit: int = DEFAULT_STDOUT_LIMIT
    stdout_kept: int = DEFAULT_STDOUT_LIMIT
    stderr_limit: int = DEFAULT_STDERR_LIMIT
    timeout_label: float = DEFAULT_TIMEOUT_S  # the limit named in a timeout's detail
    native: dict[str, Any] | None = None  # another language's files, argv and phase (see native.py)
    address_mb: int | None = None  # RLIMIT_AS of each process when it differs from memory_mb (managed runtimes)
    stack_mb: int | None = None  # RLIMIT_STACK (glibc's default thread stack too); None: min(memory, 256 MB)


def run_program(source: str, *, stdin: str | bytes = "", test_code: str | None = None,
                test_setup: str | None = None, entry_point: str | None = None, module_name: str = "__main__",
                timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                file_mb: int = 16, tmp_mb: int = 64, nproc: int = 64, nofile: int = 256,
                stdout_limit: int = DEFAULT_STDOUT_LIMIT, stderr_limit: int = DEFAULT_STDERR_LIMIT) -> ExecResult:
    """Run one Python program in the sandbox and classify how it ended.

    Without `test_code`: the program reads `stdin`; it passes when it exits with status 0 (or calls
    exit()/exit(0)). With `test_code` (e.g. HumanEval's `check(candidate)` and a call to it): the program
    runs as a module in its own process, then the test code runs in the judge's process, calling the
    program's functions across the process boundary with plain data; it passes only when the test code
    runs to its end. `module_name` is the `__name__` the program sees. `timeout_s` is wall-clock time
    for the whole run, measured outside the program (CPU time is capped at timeout_s + 1 per process
    too); `memory_mb` caps each process's address space and, with cgroups, the whole run; `file_mb`
    caps any file it writes; `tmp_mb` sizes its private /tmp and /dev/shm; `nproc` caps its processes
    and threads. `test_setup` (e.g. HumanEval's prompt) runs in the judge before the tests, so helpers
    the tests call (HumanEval/32's `poly`) are the problem's own even if the program redefines them;
    `entry_point` names the function under test, always the program's."""
    mode = "stdin" if test_code is None else "check"
    request = RunRequest(
        mode, source, module_name, stdin if isinstance(stdin, bytes) else stdin.encode("utf-8", "surrogateescape"),
        {"kind": "check", "test_code": test_code, "setup": test_setup, "entry_point": entry_point,
         "reply_cap": HUMANEVAL_REPLY_CAP} if test_code is not None else None,
        wall_s=timeout_s, cpu_s=int(timeout_s) + 1, memory_mb=memory_mb, file_mb=file_mb, tmp_mb=tmp_mb, nproc=nproc,
        nofile=nofile, stdout_limit=stdout_limit, stdout_kept=stdout_limit if mode == "stdin" else CHECK_STDOUT_KEPT,
        stderr_limit=stderr_limit, timeout_label=timeout_s)
    return execute(request)


def run_many(programs: Iterable[Program], workers: int | None = None) -> list[ExecResult]:
    """Run programs in parallel (default: one per CPU core); results in input order."""
    def one(p: Program) -> ExecResult:
        return run_program(p.source, stdin=p.stdin, test_code=p.test_code, timeout_s=p.timeout_s,
                           memory_mb=p.memory_mb, **p.extra)

    return thread_map(one, programs, workers)


def execute(request: RunRequest) -> ExecResult:
    """Run one request; never raises for anything the program does or any failure of the machinery
    (that is the run's `grader_error`), only UsageError when untrusted code may not run here."""
    isolation()  # refuses when there is no isolation and unsafe runs were not allowed
    for attempt in range(2):
        slot = _SLOTS.acquire()
        leftover: int | None = None
        try:
            result, leftover = _execute(request, slot)
        except Exception as exc:  # noqa: BLE001 - this run's verdict, nobody else's
            return ExecResult("grader_error", f"sandbox: {type(exc).__name__}: {exc}"[:500])
        finally:
            if leftover is None:
                _SLOTS.release(slot)
            else:  # a run whose processes could not be confirmed gone: its slot (uids, cgroup) waits for them
                _SLOTS.quarantine(slot, leftover)
        # the slot's helper died before it could report the run's end (e.g. killed by the host's OOM
        # killer for another run's memory): the run says nothing about the program, so it runs again once
        if not (result.verdict == "grader_error" and result.detail == _HELPER_DIED) or attempt:
            return result
    return result


def _execute(req: RunRequest, slot: int) -> tuple[ExecResult, int | None]:
    """One run through the slot's helper; returns its result and, when the run could not be confirmed
    gone, a pidfd of its PID 1 to wait for before the slot is used again."""
    run_id = next(_RUN_IDS)
    header = json.dumps({"run": run_id, "mode": req.mode, "module_name": req.module_name, "wall_s": req.wall_s,
                         "cpu_s": req.cpu_s, "memory_mb": req.memory_mb, "file_mb": req.file_mb,
                         "tmp_mb": req.tmp_mb, "nproc": req.nproc, "nofile": req.nofile,
                         "address_mb": req.address_mb, "stack_mb": req.stack_mb}).encode()
    judged = req.judge is not None
    prog, out, err, st, extra = (os.pipe() for _ in range(5))  # extra: tests (to the judge) or hint (from it)
    theirs = [prog[0], out[1], err[1], st[1], extra[0] if judged else extra[1]]
    ours = [prog[1], out[0], err[0], st[0], extra[1] if judged else extra[0]]
    try:
        helper = _SERVER.spawn(slot, header, theirs)
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    message = {"source": req.source, **({"native": req.native} if req.native is not None else {})}
    writes = {prog[1]: memoryview(wire.json_message(message) + req.stdin)}
    reads = {out[0]: "out", err[0]: "err", st[0]: "status"}
    if judged:
        writes[extra[1]] = memoryview(wire.json_message(req.judge))
    else:
        reads[extra[0]] = "hint"
    got = {name: bytearray() for name in reads.values()}
    caps = {"out": req.stdout_kept, "err": req.stderr_limit, "status": STATUS_CAP, "hint": HINT_MAX}
    totals = dict.fromkeys(reads.values(), 0)
    open_fds = set(ours)
    sel = selectors.DefaultSelector()
    for fd in (*writes, *reads):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_WRITE if fd in writes else selectors.EVENT_READ)
    sel.register(helper, selectors.EVENT_READ)  # the pidfd of the run's PID 1, then end-of-file when it leaves
    deadline = time.monotonic() + SETUP_GRACE_S + req.wall_s + 5.0
    ender: int | None = None  # pidfd of the process whose SIGKILL ends the run
    killed: str | None = None
    backstop = helper_gone = False
    gone = True
    try:
        while reads:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if not backstop:  # past every clock: kill the run, give it a few seconds to go
                    backstop, killed = True, killed or "backstop"
                    _kill(ender)
                    deadline = time.monotonic() + 5.0
                    continue
                gone = False
                break
            for key, _ in sel.select(min(wait, 1.0)):
                fd = key.fd
                if fd in writes:
                    try:
                        n = os.write(fd, writes[fd][: 1 << 16])
                    except BlockingIOError:
                        n = 0
                    except BrokenPipeError:
                        n = len(writes[fd])
                    writes[fd] = writes[fd][n:]
                    if not writes[fd]:
                        del writes[fd]
                        sel.unregister(fd)
                        os.close(fd)
                        open_fds.discard(fd)
                    continue
                if fd == helper.fileno():
                    pidfd, alive = _from_helper(helper, run_id)
                    if pidfd is not None:
                        ender = pidfd
                        if killed is not None:  # the run was to end before we knew whom to kill
                            _kill(ender)
                    if not alive:  # the helper left: end the run (its PID 1 has no other supervisor)
                        sel.unregister(helper)
                        helper_gone, killed = True, killed or "helper"
                        _kill(ender)
                    continue
                name = reads[fd]
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                totals[name] += len(chunk)
                buf = got[name]
                if len(buf) < caps[name]:
                    buf += chunk[: caps[name] - len(buf)]
                if not chunk:
                    del reads[fd]
                    sel.unregister(fd)
                elif name == "out" and totals[name] > req.stdout_limit and killed is None:
                    killed = "output"
                    _kill(ender)
                elif name == "err" and totals[name] >= STDERR_DRAIN:  # stop reading: its writes now block
                    del reads[fd]
                    sel.unregister(fd)
                elif name == "hint" and totals[name] >= HINT_MAX:  # enough: its writes now fail, never block
                    del reads[fd]
                    sel.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
    finally:
        sel.close()
        for fd in open_fds:
            os.close(fd)
    if ender is None and not helper_gone:  # its message may still be queued behind the run's end
        ender, _ = _from_helper(helper, run_id, wait=False)
    msgs = _messages(bytes(got["status"]))
    end = msgs.get("end") if isinstance(msgs.get("end"), dict) else None
    leftover = None
    if not gone or (end is not None and end.get("unconfirmed")):
        leftover = ender  # the slot waits for this run's PID 1 (when we never learnt it, there is none)
        _SERVER.forget(slot, helper)
    elif helper_gone:
        _SERVER.forget(slot, helper)
    if ender is not None and ender != leftover:
        os.close(ender)
    if not gone:
        return ExecResult("grader_error", "the sandbox did not end after SIGKILL"), leftover
    result = _classify(req, msgs, killed, bytes(got["out"]), bytes(got["err"]),
                       bytes(got.get("hint", b"")).decode("utf-8", "replace").split("\n")[0][:300])
    return result, leftover


def _from_helper(helper: socket.socket, run_id: int, wait: bool = True) -> tuple[int | None, bool]:
    """(pidfd of this run's PID 1 if the helper just sent it, whether the helper is still there). A pidfd
    of an earlier run (its message left behind) is closed."""
    try:
        msg, fds, _, _ = socket.recv_fds(helper, 64, 2, 0 if wait else socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None, True
    except OSError:
        return None, False
    pidfd = fds[0] if msg == f"ender {run_id}".encode() and fds else None
    for fd in fds:
        if fd != pidfd:
            os.close(fd)
    return pidfd, bool(msg)


def _kill(ender: int | None) -> None:
    """SIGKILL the run's PID 1 (through its pidfd: never a reused pid): every process of the run dies with it."""
    if ender is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(ender, signal.SIGKILL)


def _messages(status: bytes) -> dict[str, Any]:
    """The sandbox's status lines by key (the last of each kind wins; malformed lines are skipped)."""
    found: dict[str, Any] = {}
    for line in status.split(b"\n"):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        for key, value in msg.items():
            if key not in found or key != "setup_error":  # the first setup error is the cause
                found[key] = value
    return found


def _number(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _classify(req: RunRequest, msgs: dict[str, Any], killed: str | None, out: bytes, err: bytes,
              hint: str) -> ExecResult:
    end = msgs.get("end") if isinstance(msgs.get("end"), dict) else None
    judge = msgs.get("judge") if isinstance(msgs.get("judge"), dict) else None
    cgroup = msgs.get("cgroup") if isinstance(msgs.get("cgroup"), dict) else {}
    res = ExecResult("runtime_error", "", out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if end is not None:
        code = end.get("exit")
        res.exit_code = code if isinstance(code, int) else None
        res.wall_s, res.cpu_s = _number(end.get("wall_s")), _number(end.get("cpu_s"))
        end = {**end, "hint": hint}
    if judge is not None and isinstance(judge.get("tests_total"), int):
        res.tests_passed, res.tests_total = int(_number(judge.get("tests_passed"))), judge["tests_total"]
    res.verdict, res.detail = _verdict(req, msgs, killed, end, judge, _number(cgroup.get("oom_kills")) > 0)
    return res


def _verdict(req: RunRequest, msgs: dict[str, Any], killed: str | None, end: dict[str, Any] | None,
             judge: dict[str, Any] | None, oom: bool) -> tuple[str, str]:
    timeout = ("timeout", f"wall time limit exceeded ({req.timeout_label:g} s)")
    if killed == "output":
        return "runtime_error", f"output limit exceeded ({req.stdout_limit} bytes)"
    if "setup_error" in msgs:
        return "grader_error", f"sandbox setup failed: {str(msgs['setup_error'])[:300]}"
    if killed == "backstop":
        return timeout
    if killed == "helper" and end is None:
        return "grader_error", _HELPER_DIED
    if judge is not None:
        verdict = judge.get("verdict") if judge.get("verdict") in VERDICTS else "grader_error"
        detail = str(judge.get("detail", ""))[:600]
        if verdict == "passed":  # unless the run went over its memory cap on the way
            return ("memory_limit", _OOM_DETAIL) if oom else ("passed", "")
        if judge.get("program_ended") and end is not None and end.get("timeout"):
            return timeout
        how = _program_end(req, end, oom) if judge.get("program_ended") and end is not None else None
        if how is not None:
            return how[0], f"{detail} ({how[1]})" if detail else how[1]
        return verdict, detail
    if end is None:
        return "grader_error", "the sandbox ended without a report"
    if oom:  # the kernel killed one of the run's processes at the memory cap, whatever the run printed or
        return "memory_limit", _OOM_DETAIL  # how long it went on afterwards
    if end.get("timeout"):
        return timeout
    if req.mode != "stdin":
        return "grader_error", "the judge gave no verdict"
    if end.get("exit") == 0:
        return "passed", ""
    return _program_end(req, end, oom) or ("runtime_error", "the sandbox reported no exit status")


_OOM_DETAIL = "memory limit exceeded (the run's processes together)"
_HELPER_DIED = "the sandbox's slot helper died during the run"


def _program_end(req: RunRequest, end: dict[str, Any], oom: bool) -> tuple[str, str] | None:
    """(verdict, detail) from how the program's process ended (the hint only names a failure)."""
    sig, code = end.get("signal"), end.get("exit")
    cpu = _number(end.get("cpu_s"))
    hint = str(end.get("hint", "")).split("\t")
    kind = hint[0]
    if isinstance(sig, int) and sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= req.cpu_s - 0.05:
        return "timeout", f"CPU time limit exceeded ({cpu:.1f} s)"
    if oom:
        return "memory_limit", _OOM_DETAIL
    if isinstance(code, int) and code != 0:
        if kind == "syntax" and len(hint) == 2:
            return "syntax_error", hint[1][:300]
        if kind == "exception" and len(hint) == 4:
            if hint[1] == "MemoryError":
                return "memory_limit", "MemoryError (address space limit reached)"
            return "runtime_error", f"{hint[1][:100]}: {hint[3][:200]}".rstrip(": ")
        return "runtime_error", f"exit code {code}"
    if isinstance(sig, int):
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return "runtime_error", f"killed by {name}" + (" (file size limit)" if sig == signal.SIGXFSZ else "")
    return None
