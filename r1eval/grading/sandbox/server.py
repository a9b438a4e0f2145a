"""The fork server, its slot helpers and each run's processes (sandbox side; stdlib only).

    harness ──socket──> slot helper (one per run slot, started by the fork server, in the slot's cgroup)
                          ├─posix_spawn─> PID 1 of the run's new PID, mount, network, IPC and UTS
                          │               namespaces: an exec'd `sleep`
                          ├─fork────────> the program, PID 2 in those namespaces
                          └─────────────> judge: long-lived, its own uid and namespaces (check and
                                          functional runs)

The harness starts the fork server once (`executor.py`): a `python -I -S` with an empty environment that
has imported what programs commonly use and set up the host (`confinement.prepare_host`). On request it
forks a helper for a run slot and hands the harness the only socket to it. For each run the harness
passes the slot's helper four descriptors: the request pipe (a JSON header, then the judge's tests, then
the program's stdin), stdout, stderr and the status pipe. The helper sets the slot's cgroup caps,
creates the run's namespaces, starts their PID 1 and forks the program into them, returns to its own
namespaces, hands the judge its part, and supervises: the wall clock, the program's end, the judge's
end. It writes the run's end to the status pipe (JSON lines, as do the program's setup and the judge;
the program never holds that pipe). The run ends when its PID 1 is killed, and with it the kernel kills
every process left in the run's PID namespace: when the status pipe reaches end-of-file, nothing of the
run is left.

Without root the helper cannot come back from a user namespace, so a short-lived launcher creates the
run's namespaces (a user namespace among them) and forks a small Python PID 1, which forks the program.
Without any isolation (unsafe mode) the helper forks the program directly and kills its session at the
end.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import select
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from r1eval.grading.sandbox import confinement, judge, program, wire

HINT_MAX = 4096  # bytes of the program's failure hint that the helper reads (300 characters are kept)
JUDGE_GRACE_S = 2.0  # after the run's end, how long the judge may take to finish before it is replaced
JUDGE_MARGIN_S = 0.5  # the helper's clock for a judged run runs this much longer than the judge's
SLEEP = next((p for p in ("/usr/bin/sleep", "/bin/sleep") if os.path.exists(p)), "/usr/bin/sleep")
# modules imported once, so that programs start with them warm (LiveCodeBench's preamble and more);
# kept short because every process of every run is a copy of this server
PRELOAD = ("string re datetime collections heapq bisect copy math random statistics itertools functools "
           "operator io json typing decimal fractions array traceback resource dataclasses enum abc "
           "numbers struct copyreg weakref contextlib reprlib keyword base64 select socket _sitebuiltins")
PROBE = ("import os\nassert os.getuid() != 0 or os.getpid() != 1\ndef f(x):\n    return x + 1\n",
         "assert f(1) == 2\n")


def _status(msg: dict[str, Any], fd: int) -> None:
    """One JSON line on the status pipe (its fields are bounded, so it is written at once)."""
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "replace"))


def _setup_error(where: str, exc: BaseException, fd: int) -> NoReturn:
    """Report why a process of the run could not be confined (its code does not run) and exit."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {frame.name}:{frame.lineno})" if frame else ""
    _status({"setup_error": f"{where}: {type(exc).__name__}: {exc}{at}"[:300]}, fd)
    os._exit(70)


def _arrange(targets: dict[int, int], keep: tuple[int, ...] = ()) -> list[int]:
    """Put each source fd at its target number, close every other fd except `keep`; returns where the
    `keep` fds ended up (they are moved above the targets first)."""
    moved = {t: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for t, fd in targets.items()}
    kept = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 200) for fd in keep]  # never passed on to an exec'd PID 1
    for target, fd in moved.items():
        os.dup2(fd, target, inheritable=True)
    low = 0
    for fd in sorted(set(targets) | set(kept)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)
    return kept


def _receive(sock: socket.socket, size: int) -> tuple[bytes, list[int]] | None:
    """The next message and descriptors on a server or helper socket; None when the other side left."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, size, 4)
        except InterruptedError:
            continue
        except OSError:
            return None
        return (msg, fds) if msg else None


# ----------------------------------------------------------------------------------------------
# The program's process


def _program(host: confinement.Host, req: dict[str, Any], slot: int, targets: dict[int, int], status: int,
             workdir: str) -> NoReturn:
    """The program's process: private /tmp, /dev/shm and /proc, an unprivileged identity, then the
    program (see program.py). `targets` are its descriptors: 0-2, the control pipe, the call pipe."""
    try:
        (status,) = _arrange(targets, (status,))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        uid = confinement.run_uids(host.uid_block, slot)[0] if host.uid_block is not None else None
        if host.level != "none":
            owner = (uid, confinement.SANDBOX_GID) if uid is not None else (host.uid, host.gid)
            confinement.mount_run_filesystems(int(req["tmp_mb"]), *owner)
            with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
                fh.write("0")  # the server's -1000 protects helpers and judges, not programs
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox"})
        limits = confinement.Limits(int(req["cpu_s"]), int(req["memory_mb"]), int(req["file_mb"]),
                                    int(req["nproc"]), int(req["nofile"]))
        confinement.confine(host, uid, limits, dumpable=True)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001 - never run the program half-confined
        _setup_error("program", exc, status)
    os.close(status)
    program.run(req["mode"], req["source"], req.get("module_name", "__main__"))


def _pid1(host: confinement.Host, req: dict[str, Any], slot: int, targets: dict[int, int], status: int,
          end_w: int, workdir: str) -> NoReturn:
    """Without root, PID 1 of the run's PID namespace: fork the program, reap every process until the
    program has ended, pass its end (wait status, CPU seconds) to the helper, and leave, which makes the
    kernel kill whatever is left in the namespace. Not dumpable: it shares the program's uid."""
    try:
        status, end_w = _arrange(targets, (status, end_w))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        confinement.prctl(confinement.PR_SET_DUMPABLE, 0)  # without root it shares the program's uid
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001
        _setup_error("pid 1", exc, status)
    pid = os.fork()
    if pid == 0:
        _program(host, req, slot, {fd: fd for fd in targets}, status, workdir)
    for fd in [*targets, status]:
        os.close(fd)
    while True:
        try:
            got, wait_status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if got == pid:
            break
    os.write(end_w, json.dumps([wait_status, usage.ru_utime + usage.ru_stime]).encode())
    os._exit(0)


def _launcher(host: confinement.Host, req: dict[str, Any], slot: int, targets: dict[int, int], status: int,
              end_w: int, workdir: str) -> NoReturn:
    """Without root: create the run's namespaces (a user namespace among them), fork PID 1, wait for it."""
    try:
        status, end_w = _arrange(targets, (status, end_w))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        confinement.enter_run_namespaces(host)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001
        _setup_error("launcher", exc, status)
    pid = os.fork()
    if pid == 0:
        _pid1(host, req, slot, {fd: fd for fd in targets}, status, end_w, workdir)
    for fd in [*targets, status, end_w]:
        os.close(fd)
    os.waitpid(pid, 0)
    os._exit(0)


# ----------------------------------------------------------------------------------------------
# The judge's process, long-lived per slot


class _Judge:
    """The slot helper's handle on its judge, (re)started when needed."""

    def __init__(self, host: confinement.Host, slot: int) -> None:
        self.host, self.slot = host, slot
        self.pid: int | None = None
        self.sock: socket.socket | None = None

    def _start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            _judge_process(self.host, self.slot, theirs.detach())
        theirs.close()
        self.pid, self.sock = pid, mine

    def dispatch(self, fds: list[int], deadline: float) -> bool:
        """Hand the judge one run: [request pipe, status pipe, call pipe, reply pipe]."""
        for _ in range(2):
            if self.pid is None:
                self._start()
            try:
                socket.send_fds(self.sock, [json.dumps({"deadline": deadline}).encode()], fds)
                return True
            except OSError:
                self.kill()
        return False

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.sock.close()
        self.pid = self.sock = None


def _judge_process(host: confinement.Host, slot: int, sock_fd: int) -> NoReturn:
    """Forked by the helper: new namespaces, then the judge as PID 1 of its own PID namespace (this
    process stays as its parent; killing it kills the judge)."""
    try:
        (sock_fd,) = _arrange({}, (sock_fd,))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        if host.level != "none":
            confinement.unshare(confinement.CLONE_NEWPID | confinement.CLONE_NEWNET | confinement.CLONE_NEWNS
                                | confinement.CLONE_NEWIPC | confinement.CLONE_NEWUTS)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException:  # noqa: BLE001 - the helper sees the closed socket
        os._exit(71)
    pid = os.fork()
    if pid:
        os.close(sock_fd)
        os.waitpid(pid, 0)
        os._exit(0)
    try:
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        if host.level == "user-namespaces":  # the host's /proc is bound into the tree; the judge needs none
            confinement.detach("/proc")
        devnull = os.open("/dev/null", os.O_RDWR)
        _arrange({0: devnull, 1: devnull, 2: devnull, judge.CONTROL_FD: sock_fd})
        uid = confinement.run_uids(host.uid_block, slot)[1] if host.uid_block is not None else None
        confinement.confine(host, uid, confinement.Limits(None, 4096, 0, 1, 64), dumpable=False)
    except BaseException:  # noqa: BLE001
        os._exit(71)
    judge.serve(judge.CONTROL_FD)


# ----------------------------------------------------------------------------------------------
# The slot helper


def _spawn_init(wall_s: float) -> int:
    """As root, PID 1 of the run's new PID namespace: `sleep`, exec'd (no copy of this process), so that
    the program is an ordinary process (PID 2) whose signals behave as usual; killing it ends the run.
    Its sleep outlasts the run's clock, so it ends by itself even if the helper dies."""
    return os.posix_spawn(SLEEP, ["sleep", str(int(wall_s) + 60)], {})


def _go_home(host: confinement.Host) -> bool:
    try:
        confinement.leave_run_namespaces(host)
        return True
    except OSError:
        return False


def _serve_run(host: confinement.Host, slot: int, fds: list[int], the_judge: _Judge) -> None:
    """Start one run, supervise it, report its end. Returns when every process of the run is gone."""
    request, stdout, stderr, status = fds
    baseline = None
    own: list[int] = []  # descriptors this function opened
    try:
        req = wire.read_json_message(request)
        mode = req["mode"]
        if host.cgroups:
            baseline = host.cgroups.set_limits(slot, (int(req["memory_mb"]) + 64) << 20, int(req["nproc"]) + 8)
        ctl_r, ctl_w = os.pipe()  # program -> helper (hint) or judge (replies)
        call_r, call_w = os.pipe() if mode != "stdin" else (-1, -1)  # judge -> program
        devnull = os.open("/dev/null", os.O_RDWR)
        own = [fd for fd in (ctl_r, ctl_w, call_r, call_w, devnull) if fd >= 0]
        workdir = confinement.WORKDIR
        if host.level == "none":
            workdir = f"/tmp/r1eval-sandbox-{os.getpid()}-{time.monotonic_ns()}"
            os.mkdir(workdir, 0o700)
        targets = {0: request if mode == "stdin" else devnull, 1: stdout, 2: stderr, program.CTL_FD: ctl_w}
        if mode != "stdin":
            targets[program.CALL_FD] = call_r
        end_r = end_w = -1
        if host.level == "user-namespaces":  # PID 1 tells the helper how the program ended
            end_r, end_w = os.pipe()
            own += [end_r, end_w]
        init = None
        if host.level == "namespaces":
            confinement.enter_run_namespaces(host)
            init = _spawn_init(float(req["wall_s"]))
    except BaseException as exc:  # noqa: BLE001
        _status({"setup_error": f"helper: {type(exc).__name__}: {exc}"[:300]}, status)
        for fd in [*own, *fds]:
            os.close(fd)
        if host.level == "namespaces" and not _go_home(host):
            os._exit(72)
        return
    pid = os.fork()  # root: PID 2 of the run, the helper's own child
    if pid == 0:
        if host.level == "user-namespaces":
            _launcher(host, req, slot, targets, status, end_w, workdir)
        _program(host, req, slot, targets, status, workdir)
    if host.level == "namespaces" and not _go_home(host):
        os.kill(init, signal.SIGKILL)
        os._exit(72)  # never serve another run from inside this one's namespaces
    started = time.monotonic()
    deadline = started + float(req["wall_s"])
    ender = init if init is not None else pid  # killing it ends the whole run
    _status({"ender": ender}, status)  # whom the harness kills to end the run early
    for fd in (ctl_w, call_r, devnull, end_w, stdout, stderr):
        if fd >= 0:
            os.close(fd)
    judged = mode != "stdin" and the_judge.dispatch([request, status, call_w, ctl_r], deadline)
    if mode != "stdin":
        os.close(call_w)
        os.close(ctl_r)
    # the judge's clock runs out first, so that it, not the end of the program, reports a timeout
    end = _supervise(pid, ender, ctl_r if mode == "stdin" else -1, the_judge if judged else None,
                     deadline + (JUDGE_MARGIN_S if judged else 0.0), end_r)
    if init is not None:
        os.waitpid(init, 0)
    end["wall_s"] = round(time.monotonic() - started, 4)
    if mode != "stdin" and not judged:
        end["judge_unavailable"] = True
    if host.level == "none":
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # no PID namespace: whatever the program left in its session
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    _status({"end": end}, status)
    if baseline is not None:
        with contextlib.suppress(OSError, ValueError):
            _status({"cgroup": {"oom_kills": host.cgroups.oom_kills(slot) - baseline}}, status)
    for fd in (end_r, request, status):
        if fd >= 0:
            os.close(fd)


def _supervise(pid: int, ender: int, hint_fd: int, the_judge: _Judge | None, deadline: float,
               end_fd: int) -> dict[str, Any]:
    """Wait for the end of `pid` (the program, or the launcher without root) in stdin runs, or the
    judge's in other runs, until the deadline; then SIGKILL `ender` (PID 1 of the run, or the program
    itself in unsafe mode), which ends the whole run, and say how the program ended. Closes hint_fd."""
    poller = select.poll()
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
        tick_ms = 1 << 30
    except OSError:  # kernels before 5.3: look every few milliseconds instead
        pidfd, tick_ms = -1, 5
    if hint_fd >= 0:
        os.set_blocking(hint_fd, False)
        poller.register(hint_fd, select.POLLIN)
    if the_judge is not None:
        poller.register(the_judge.sock, select.POLLIN)
    hint = bytearray()
    ended: tuple[int, Any] | None = None
    judge_done = timed_out = False
    while not (judge_done if the_judge is not None else ended is not None):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for fd, _ in poller.poll(min(int(remaining * 1000) + 1, tick_ms)):
            if fd == hint_fd:
                chunk = b""
                with contextlib.suppress(BlockingIOError):
                    chunk = os.read(fd, HINT_MAX)
                hint += chunk[: HINT_MAX - len(hint)]
                if not chunk or len(hint) >= HINT_MAX:  # enough: further writes fail (EPIPE), never block
                    poller.unregister(fd)
                    os.close(fd)
                    hint_fd = -1
            elif fd == pidfd:
                poller.unregister(fd)
            else:
                judge_done = True
                poller.unregister(fd)
        if ended is None:
            got, wait_status, usage = os.wait4(pid, os.WNOHANG)
            if got:
                ended = (wait_status, usage)
    with contextlib.suppress(OSError):
        os.kill(ender, signal.SIGKILL)  # PID 1 (or the launcher): the whole run ends with it
    if ended is None:
        _, wait_status, usage = os.wait4(pid, 0)
        ended = (wait_status, usage)
    if pidfd >= 0:
        os.close(pidfd)
    wait_status, cpu_s = ended[0], ended[1].ru_utime + ended[1].ru_stime
    if end_fd >= 0:  # without root, PID 1 reports the program's own end (unless it was killed first)
        with contextlib.suppress(OSError, ValueError, TypeError):
            wait_status, cpu_s = json.loads(os.read(end_fd, 256))
    if the_judge is not None:
        if not judge_done and not select.select([the_judge.sock], [], [], JUDGE_GRACE_S)[0]:
            the_judge.kill()  # stuck (e.g. in the tests' own code): replaced before the next run
        else:
            try:
                alive = the_judge.sock.recv(64) == b"done"
            except OSError:
                alive = False
            if not alive:
                the_judge.kill()
    if hint_fd >= 0:
        with contextlib.suppress(OSError):
            hint += os.read(hint_fd, HINT_MAX)[: max(0, HINT_MAX - len(hint))]
        os.close(hint_fd)
    end: dict[str, Any] = {"timeout": timed_out, "hint": hint.decode("utf-8", "replace").split("\n")[0][:300],
                           "cpu_s": round(cpu_s, 4)}
    if os.WIFSIGNALED(wait_status):
        end["signal"] = os.WTERMSIG(wait_status)
    else:
        end["exit"] = os.waitstatus_to_exitcode(wait_status)
    return end


def _slot_helper(host: confinement.Host, slot: int, sock_fd: int) -> NoReturn:
    """A slot's long-lived helper: joins the slot's cgroup once (moving a process between cgroups costs
    an RCU grace period, milliseconds), then serves the slot's runs one after the other (the harness
    reuses a slot only after its run has ended)."""
    try:
        parents = tuple(host.cgroups.parents.values()) if host.cgroups else ()
        sock_fd, *kept = _arrange({}, (sock_fd, *parents, *host.home_namespaces.values()))
        host.home_namespaces = dict(zip(host.home_namespaces, kept[len(parents):], strict=True))
        if host.cgroups:  # the helper needs only the slot groups' parents
            host.cgroups.parents, host.cgroups.owners = dict(zip(host.cgroups.parents, kept, strict=False)), {}
            host.cgroups.join(slot)
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException:  # noqa: BLE001 - the server sees the closed socket; the runs get no report
        os._exit(71)
    sock = socket.socket(fileno=sock_fd)
    the_judge = _Judge(host, slot)
    while (received := _receive(sock, 16)) is not None:
        fds = received[1]
        for fd in fds:
            os.set_inheritable(fd, False)  # received descriptors are inheritable; PID 1 must hold none
        if len(fds) == 4:
            _serve_run(host, slot, fds, the_judge)  # closes the run's descriptors
        else:
            for fd in fds:
                os.close(fd)
    os._exit(0)


def _start_helper(host: confinement.Host, slot: int) -> socket.socket:
    """Fork a slot helper; returns the only socket to it (the harness sends it runs directly)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        mine.detach()
        _slot_helper(host, slot, theirs.detach())
    theirs.close()
    return mine


# ----------------------------------------------------------------------------------------------
# The server


def _self_test(host: confinement.Host) -> str | None:
    """Run one check run through the whole path (the last slot is reserved for it); why it failed, or None."""
    helper = None
    try:
        helper = _start_helper(host, confinement.MAX_SLOTS - 1)
        pipes = [os.pipe() for _ in range(4)]
        socket.send_fds(helper, [b"run"], [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]])
        for i, (r, w) in enumerate(pipes):
            os.close(r if i == 0 else w)
        header = {"mode": "check", "source": PROBE[0], "wall_s": 20, "cpu_s": 20, "memory_mb": 512, "file_mb": 1,
                  "tmp_mb": 1, "nproc": 8, "nofile": 64}
        tests = {"kind": "check", "test_code": PROBE[1], "reply_cap": 1 << 16}
        os.write(pipes[0][1], wire.json_message(header) + wire.json_message(tests))
        os.close(pipes[0][1])
        out = {i: bytearray() for i in (1, 2, 3)}
        poller = select.poll()
        open_fds = {pipes[i][0]: i for i in (1, 2, 3)}
        for fd in open_fds:
            poller.register(fd, select.POLLIN)
        give_up = time.monotonic() + 30
        while open_fds and time.monotonic() < give_up:
            for fd, _ in poller.poll(1000):
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    out[open_fds[fd]] += chunk[: 1 << 16]
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    del open_fds[fd]
        lines = [json.loads(line) for line in bytes(out[3]).splitlines() if line.strip()]
        errors = [m["setup_error"] for m in lines if "setup_error" in m]
        if errors:
            return errors[0]
        verdict = next((m["judge"].get("verdict") for m in lines if "judge" in m), None)
        if verdict != "passed":
            end = next((m["end"] for m in lines if "end" in m), None)
            return f"probe run: judge {verdict}, end {end}, {bytes(out[2])[-300:].decode(errors='replace')}"
        return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if helper is not None:
            helper.close()  # the probe's helper (and its judge) leave


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
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # helpers are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness decides when we stop (closing the socket)
    gc.freeze()  # every child shares these objects: the collector must not touch (and copy) their pages
    if host.level != "none":
        problem = _self_test(host)
        if problem is not None:
            host.reasons.append(f"the sandbox self-test failed ({problem})")
            host.level = "none"
    info = {"level": host.level, "isolation": host.describe(), "reasons": host.reasons, "server_pid": os.getpid()}
    if host.uid_block is not None:
        info["uids"] = [confinement.run_uids(host.uid_block, 0)[0], confinement.run_uids(host.uid_block + 1, 0)[0]]
    reply = json.dumps(info).encode()
    try:
        while (received := _receive(sock, 256)) is not None:
            msg, fds = received
            for fd in fds:
                os.close(fd)
            if msg == b"probe":
                sock.send(reply)
            elif msg.startswith(b"helper ") and msg[7:].isdigit() and int(msg[7:]) < confinement.MAX_SLOTS - 1:
                helper = _start_helper(host, int(msg[7:]))
                socket.send_fds(sock, [b"helper"], [helper.fileno()])
                helper.close()
            else:
                sock.send(b"?")
    finally:
        if host.cgroups:  # the helpers leave when the harness closes their sockets (or dies)
            host.cgroups.remove()
