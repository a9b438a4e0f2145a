"""The fork server and each run's process tree (sandbox side; stdlib only).

    harness ──unix socket──> fork server ──fork──> launcher ──fork──> PID 1 of the run ──fork──> program
                                                   (cgroup,           (mounts /tmp,      └─fork──> judge
                                                    namespaces)        /proc; clock)           (check and
                                                                                                functional runs)

The harness starts the fork server once (`executor.py`), a `python -I -S` with an empty environment
that has imported what programs commonly use and set up the host (`confinement.prepare_host`). For each
run it passes four descriptors: the request pipe (a JSON header, then the judge's tests, then the
program's stdin), stdout, stderr and the status pipe. The launcher, PID 1 and the judge write JSON
lines to the status pipe; the program never holds it. PID 1 enforces the run's wall clock, reaps
every process, and when it exits the kernel kills whatever is left in the run's PID namespace; the
launcher (outside that namespace) waits for it, adds the cgroup's OOM-kill count, and exits: the
status pipe's end-of-file means nothing of the run is left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any, NoReturn

from r1eval.grading.sandbox import confinement, judge, program

HEADER = struct.Struct("<Q")
STATUS_FD = 3
STATUS_LINE_MAX = 3000
HINT_MAX = 4096  # bytes of the program's failure hint that PID 1 reads
# modules imported once so that each program starts with them warm (LiveCodeBench's preamble and more)
PRELOAD = ("string re datetime collections heapq bisect copy math random statistics itertools functools "
           "operator io json typing decimal fractions array traceback resource tempfile shutil dataclasses "
           "enum abc numbers struct pickle copyreg threading queue multiprocessing multiprocessing.pool "
           "concurrent.futures subprocess contextlib weakref unittest doctest hashlib base64 textwrap "
           "reprlib keyword importlib marshal site _sitebuiltins")
PROBE_SOURCE = "import os\nassert os.getuid() != 0 or os.getpid() > 2\nprint('ok')\n"


def _status(msg: dict[str, Any], fd: int = STATUS_FD) -> None:
    line = json.dumps(msg, ensure_ascii=True)[:STATUS_LINE_MAX]
    with contextlib.suppress(OSError):
        os.write(fd, (line + "\n").encode())


def _arrange(targets: dict[int, int], keep: tuple[int, ...] = ()) -> list[int]:
    """Put each source fd at its target number, close every other fd except `keep`; returns where the
    `keep` fds ended up (they are moved above the targets first)."""
    moved = {t: fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for t, fd in targets.items()}
    kept = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for fd in keep]
    for target, fd in moved.items():
        os.dup2(fd, target, inheritable=True)
    wanted = sorted(set(targets) | set(kept))
    low = 0
    for fd in wanted:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)
    return kept


def _setup_error(where: str, exc: BaseException, fd: int = STATUS_FD) -> NoReturn:
    """Report why the sandbox could not be built (the program does not run) and exit."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {frame.name}:{frame.lineno})" if frame else ""
    _status({"setup_error": f"{where}: {type(exc).__name__}: {exc}{at}"[:500]}, fd)
    os._exit(70)


def _set_oom_score_adj(value: int) -> None:
    """Best effort: some hosts do not let even root lower it."""
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write(str(value))


def _read_header(fd: int) -> dict[str, Any]:
    def exact(n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError("request truncated")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    (size,) = HEADER.unpack(exact(HEADER.size))
    return json.loads(exact(size))


# ----------------------------------------------------------------------------------------------
# One run


def launch(host: confinement.Host, fds: list[int], slot: int) -> NoReturn:
    """The launcher: forked by the server for one run, outside the run's namespaces."""
    baseline = None
    try:
        kept = _arrange(dict(enumerate(fds)), tuple(host.cgroups.parents.values()) if host.cgroups else ())
        if host.cgroups:  # this process only needs the run groups' parents, now at new numbers
            host.cgroups.parents, host.cgroups.owners = dict(zip(host.cgroups.parents, kept, strict=True)), {}
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)  # the server died: so does the run
        _status({"launcher": os.getpid()})
        req = _read_header(0)
        if host.cgroups:
            baseline = host.cgroups.start_run(slot, (int(req["memory_mb"]) + 64) << 20, int(req["nproc"]) + 8)
        if host.level != "none":
            confinement.enter_run_namespaces(host)
    except BaseException as exc:  # noqa: BLE001 - never run the program half-confined
        _setup_error("launcher", exc)
    pid1 = os.fork()
    if pid1 == 0:
        _pid1(host, req, slot)
    for fd in (0, 1, 2):
        os.close(fd)
    _, wait_status = os.waitpid(pid1, 0)
    if baseline is not None:
        with contextlib.suppress(OSError, ValueError):
            _status({"cgroup": {"oom_kills": host.cgroups.oom_kills(slot) - baseline}})
    if host.level == "none":  # no PID namespace: take down what the program left in this session
        os.close(STATUS_FD)
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGKILL)
    os._exit(0)


def _pid1(host: confinement.Host, req: dict[str, Any], slot: int) -> NoReturn:
    """PID 1 of the run (still privileged inside its namespaces): mounts, clock, reaping, the end report."""
    mode = req["mode"]
    workdir = confinement.WORKDIR
    try:
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        if host.cgroups:
            for fd in host.cgroups.fds():
                os.close(fd)
        prog_uid, judge_uid = (confinement.run_uids(host.uid_block, slot) if host.uid_block is not None
                               else (None, None))
        if host.level == "none":
            import tempfile

            workdir = tempfile.mkdtemp(prefix="r1eval-sandbox-")
        else:
            owner = (prog_uid, confinement.SANDBOX_GID) if prog_uid is not None else (host.uid, host.gid)
            confinement.mount_run_filesystems(int(req["tmp_mb"]), *owner)
        if host.level == "namespaces":  # under the run's memory cap, the OOM killer picks the program's processes
            _set_oom_score_adj(-1000)
        confinement.prctl(confinement.PR_SET_DUMPABLE, 0)
        devnull = os.open("/dev/null", os.O_RDWR)
        ctl_r, ctl_w = os.pipe()
        call_r, call_w = os.pipe() if mode != "stdin" else (-1, -1)
        limits = confinement.Limits(int(req["cpu_s"]), int(req["memory_mb"]), int(req["file_mb"]), int(req["nproc"]),
                                  int(req["nofile"]))
    except BaseException as exc:  # noqa: BLE001
        _setup_error("pid 1", exc)
    t0 = time.monotonic()
    deadline = t0 + float(req["wall_s"])
    prog = os.fork()
    if prog == 0:
        stdin = 0 if mode == "stdin" else devnull
        targets = {0: stdin, 1: 1, 2: 2, program.CTL_FD: ctl_w} | ({program.CALL_FD: call_r} if mode != "stdin" else {})
        _start(host, targets, prog_uid, limits, workdir, True,
               lambda: program.run(mode, req["source"], req.get("module_name", "__main__")))
    judge_pid = None
    if mode != "stdin":
        judge_pid = os.fork()
        if judge_pid == 0:
            judge_limits = confinement.Limits(int(req["cpu_s"]) + 5, max(int(req["memory_mb"]), 512), 0, 8, 64)
            targets = {0: 0, 1: devnull, 2: devnull, 3: STATUS_FD, 4: call_w, 5: ctl_r}
            _start(host, targets, judge_uid, judge_limits, "/", False, lambda: judge.run(3, 4, 5, deadline))
        for fd in (ctl_r, call_r, call_w):
            os.close(fd)
        ctl_r = -1
    os.close(ctl_w)
    os.close(0)
    end = _supervise(prog, judge_pid, ctl_r, deadline, host.level != "none")
    end["wall_s"] = round(time.monotonic() - t0, 4)
    _status({"end": end})
    if host.level == "none":
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    os._exit(0)  # PID 1 leaving: the kernel kills every process left in the namespace


def _start(host: confinement.Host, targets: dict[int, int], uid: int | None, limits: confinement.Limits, workdir: str,
           dumpable: bool, body) -> NoReturn:
    """In a fresh child of PID 1: descriptors, identity, limits, then `body` (never returns)."""
    try:
        (status,) = _arrange(targets, (STATUS_FD,))
        if host.level == "namespaces" and dumpable:
            _set_oom_score_adj(0)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox"})
        confinement.confine(host, uid, limits, dumpable=dumpable)
    except BaseException as exc:  # noqa: BLE001
        _setup_error("program" if dumpable else "judge", exc, status)
    os.close(status)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    body()
    os._exit(0)


def _supervise(prog: int, judge_pid: int | None, hint_fd: int, deadline: float, is_pid1: bool) -> dict[str, Any]:
    """Wait for the program (stdin runs) or the judge (other runs), reaping every orphan, until the deadline."""
    watch = {prog: "program"} | ({judge_pid: "judge"} if judge_pid is not None else {})
    until = "judge" if judge_pid is not None else "program"
    poller = select.poll()
    pidfds = set()
    for pid in watch:
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # kernels before 5.3: poll the children every few milliseconds instead
            continue
        poller.register(fd, select.POLLIN)
        pidfds.add(fd)
    tick_ms = 1 << 30 if len(pidfds) == len(watch) else 5
    if hint_fd >= 0:
        os.set_blocking(hint_fd, False)
        poller.register(hint_fd, select.POLLIN)
    hint = bytearray()
    ended: dict[str, tuple[int, Any]] = {}
    timed_out = False
    while until not in ended:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for fd, _ in poller.poll(min(int(remaining * 1000) + 1, tick_ms)):
            if fd == hint_fd:
                try:
                    chunk = os.read(fd, HINT_MAX)
                except BlockingIOError:
                    continue
                hint += chunk[: HINT_MAX - len(hint)]
                if not chunk or len(hint) >= HINT_MAX:  # enough: further writes fail (EPIPE), never block
                    poller.unregister(fd)
                    os.close(fd)
            elif fd in pidfds:
                poller.unregister(fd)
        _reap(watch, ended)
    with contextlib.suppress(OSError):
        if is_pid1:
            os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of the run
        else:
            for pid in watch:
                os.kill(pid, signal.SIGKILL)
    _reap(watch, ended, wait_for="program")
    end: dict[str, Any] = {"timeout": timed_out, "hint": hint.decode("utf-8", "replace").split("\n")[0][:1200]}
    if "program" in ended:
        wait_status, usage = ended["program"]
        if os.WIFSIGNALED(wait_status):
            end["signal"] = os.WTERMSIG(wait_status)
        else:
            end["exit"] = os.waitstatus_to_exitcode(wait_status)
        end["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 4)
    return end


def _reap(watch: dict[int, str], ended: dict[str, tuple[int, Any]], wait_for: str | None = None) -> None:
    """Reap every child that has exited (orphans included); with `wait_for`, wait up to 5 s for that one."""
    give_up = time.monotonic() + 5.0
    while True:
        try:
            pid, wait_status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if wait_for is None or wait_for in ended or time.monotonic() > give_up:
                return
            time.sleep(0.001)
            continue
        if pid in watch:
            ended[watch[pid]] = (wait_status, usage)


# ----------------------------------------------------------------------------------------------
# The server


def _self_test(host: confinement.Host) -> str | None:
    """Run one trivial program through the whole path; the reason it failed, or None."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        pipes = [os.pipe() for _ in range(4)]
        pid = os.fork()
        if pid == 0:
            launch(host, [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]], confinement.MAX_SLOTS - 1)
        for r, w in pipes:
            os.close(w if (r, w) != pipes[0] else r)
        header = json.dumps({"mode": "stdin", "source": PROBE_SOURCE, "wall_s": 20, "cpu_s": 20, "memory_mb": 512,
                             "file_mb": 1, "tmp_mb": 1, "nproc": 8, "nofile": 64}).encode()
        os.write(pipes[0][1], HEADER.pack(len(header)) + header)
        os.close(pipes[0][1])
        out = {1: bytearray(), 2: bytearray(), 3: bytearray()}
        poller = select.poll()
        for i in (1, 2, 3):
            poller.register(pipes[i][0], select.POLLIN)
        open_fds = {pipes[i][0]: i for i in (1, 2, 3)}
        give_up = time.monotonic() + 30
        while open_fds and time.monotonic() < give_up:
            for fd, _ in poller.poll(1000):
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    out[open_fds[fd]] += chunk[:1 << 16]
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del open_fds[fd]
        os.waitpid(pid, 0)
        lines = [json.loads(line) for line in bytes(out[3]).splitlines() if line.strip()]
        errors = [m["setup_error"] for m in lines if "setup_error" in m]
        if errors:
            return errors[0]
        end = next((m["end"] for m in lines if "end" in m), None)
        if end is None or end.get("exit") != 0 or bytes(out[1]) != b"ok\n":
            return f"probe program failed: {end} {bytes(out[2])[-300:].decode(errors='replace')}"
        return None
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)


def _python_for_programs() -> None:
    """The interpreter state every program inherits: warm modules, exit()/quit(), stdlib-only path."""
    import builtins
    import importlib

    for name in PRELOAD.split():
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    import _sitebuiltins

    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    import sysconfig

    paths = [sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")]
    dynload = [p for p in sys.path if p.endswith("lib-dynload")]
    sys.path[:] = list(dict.fromkeys([*paths, *dynload, confinement.SITE_DIR]))
    sys.path_importer_cache.clear()


def main(argv: list[str]) -> None:
    """Entry point (see executor.py): argv = [socket fd, options JSON]."""
    sock = socket.socket(fileno=int(argv[0]))
    options = json.loads(argv[1])
    _python_for_programs()
    host = confinement.prepare_host(options["packages"], bool(options["force_none"]))
    if host.level != "none":
        problem = _self_test(host)
        if problem is not None:
            host.reasons.append(f"the sandbox self-test failed ({problem})")
            host.level = "none"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # launchers are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness decides when we stop (closing the socket)
    info = {"level": host.level, "isolation": host.describe(), "reasons": host.reasons, "server_pid": os.getpid()}
    if host.uid_block is not None:
        info["uids"] = [confinement.run_uids(host.uid_block, 0)[0], confinement.run_uids(host.uid_block + 1, 0)[0]]
    info = json.dumps(info).encode()
    try:
        while True:
            try:
                msg, fds, _, _ = socket.recv_fds(sock, 256, 4)
            except InterruptedError:
                continue
            except OSError:
                break
            if not msg:
                break
            if msg == b"probe":
                sock.send(info)
            elif msg.startswith(b"run ") and len(fds) == 4:
                slot = int(msg[4:])
                if 0 <= slot < confinement.MAX_SLOTS - 1 and os.fork() == 0:
                    sock.close()
                    launch(host, fds, slot)
            for fd in fds:
                os.close(fd)
    finally:
        if host.cgroups:
            host.cgroups.remove()
