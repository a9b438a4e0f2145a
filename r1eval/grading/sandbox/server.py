"""The fork server, its slot helpers and spawners, and each run's processes (sandbox side; stdlib only).

    harness ──socket──> slot helper (one per run slot, started by the fork server)
                          ├─socket──> spawner (forked by the helper before its first run)
                          │             └─fork──> PID 1 of the run's new PID, mount, network, IPC and UTS
                          │                         namespaces: forked ahead of its run, it joins the slot's
                          │                         cgroup, then waits for the run's descriptors
                          │                         └─fork──> the program (PID 2)
                          └─fork────> judge: long-lived, its own uid and namespaces (check and
                                      functional runs)

The harness starts the fork server once (`executor.py`): a `python -I -S` with an empty environment that
has imported what programs commonly use and set up the host (`confinement.prepare_host`). On request it
forks a helper for a run slot and hands the harness the only socket to it. For each run the harness sends
the slot's helper a header (the run's limits: numbers only) and five descriptors: the program pipe (the
source, then the program's stdin), stdout, stderr, the status pipe, and either the hint pipe (stdin runs:
the program's one-line failure hint, read by the harness) or the tests pipe (read by the judge only).

Nothing of a run's data passes through a process that a later program is forked from: the helper reads
only headers and the ends of runs; the spawner, a copy of the helper made before it served any run, only
receives descriptors and limits and forks each run's PID 1; PID 1, forked for this run alone, forks the
program, which reads its own source. So a program that scans its own memory finds the sandbox's code and
nothing of another sample (source, output, hint or exit status).

The helper sets the slot's cgroup caps, has the spawner start the run, passes the harness a pidfd of the
run's PID 1 (whom to kill to end the run early), hands the judge its part, and supervises on its own
clock: the program's end (reported by PID 1), the judge's end, the wall clock. The run ends when PID 1 is
killed: the kernel then kills every process left in the run's PID namespace, and PID 1 is gone only once
all of them are. PID 1 reaps every process of the run (orphans, `CLONE_PARENT` children), so nothing can
keep it from ending; the helper waits for it with a time limit, never forever. The slot's cgroup holds
a run's processes and nothing else (PID 1 joins it before it forks the program; the spawner, helper and
judge stay outside), so its memory cap's OOM killer can only choose among the run's own processes, which
also carry oom_score_adj 1000 for the host's OOM killer (the grader's processes ask for -1000 where the
kernel allows it).

Without root a short-lived launcher (forked by the spawner) creates the run's namespaces, a user
namespace among them, and forks PID 1. Without any isolation (unsafe mode) the process in PID 1's place
is the program's parent and session leader, and the helper kills the session at the end.
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

JUDGE_GRACE_S = 2.0  # after the run's end, how long the judge may take to finish before it is replaced
JUDGE_MARGIN_S = 0.5  # the helper's clock for a judged run runs this much longer than the judge's
KILL_GRACE_S = 5.0  # how long the helper waits for a killed run's PID 1 to be gone
END_REPORT_MAX = 256  # bytes of PID 1's report of the program's end
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
    kept = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 200) for fd in keep]  # never passed on to an exec
    for target, fd in moved.items():
        os.dup2(fd, target, inheritable=True)
    low = 0
    for fd in sorted(set(targets) | set(kept)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)
    return kept


def _receive(sock: socket.socket, size: int, max_fds: int = 8) -> tuple[bytes, list[int]] | None:
    """The next message and descriptors on a server, helper or spawner socket; None when the other side left."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, size, max_fds)
        except InterruptedError:
            continue
        except OSError:
            return None
        if not msg:
            for fd in fds:
                os.close(fd)
            return None
        return msg, fds


# ----------------------------------------------------------------------------------------------
# The run's processes: PID 1 (forked by the spawner or the rootless launcher) and the program


def _program(host: confinement.Host, hdr: dict[str, Any], slot: int, targets: dict[int, int], status: int,
             workdir: str) -> NoReturn:
    """The program's process: private /tmp, /dev/shm and /proc, its source (read from the program pipe,
    and written to a file that `multiprocessing`'s spawn can re-import), an unprivileged identity, then
    the program (see program.py). `targets` are its descriptors: 0-2, the control pipe, the call pipe."""
    mode = hdr["mode"]
    try:
        (status,) = _arrange(targets, (status,))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        uid = confinement.run_uids(host.uid_block, slot)[0] if host.uid_block is not None else None
        owner = (uid, confinement.SANDBOX_GID) if uid is not None else (host.uid, host.gid)
        if host.level != "none":
            confinement.mount_run_filesystems(int(hdr["tmp_mb"]), *owner)
        message = wire.read_json_message(0)  # the program pipe: the source first, then (stdin runs) the input
        source = message["source"] if isinstance(message, dict) and isinstance(message.get("source"), str) else None
        if source is None:
            raise confinement.SetupError("no source on the program pipe")
        if mode != "stdin":
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
        path = program.write_source(source, os.path.join(os.path.dirname(workdir), "program"))
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox"})
        limits = confinement.Limits(int(hdr["cpu_s"]), int(hdr["memory_mb"]), int(hdr["file_mb"]),
                                    int(hdr["nproc"]), int(hdr["nofile"]))
        confinement.confine(host, uid, limits, dumpable=True)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001 - never run the program half-confined
        _setup_error("program", exc, status)
    os.close(status)
    program.run(mode, source, hdr.get("module_name", "__main__"), path)


def _pid1(host: confinement.Host, hdr: dict[str, Any], slot: int, targets: dict[int, int], status: int,
          end_w: int, workdir: str) -> NoReturn:
    """PID 1 of the run's PID namespace (without isolation: the program's parent). Forked for this run
    alone, from a process that never held another run's data. Forks the program, reaps every process of
    the run (orphans and `CLONE_PARENT` children come to it), writes
    the program's end (wait status, CPU seconds) to `end_w`, and leaves when no child is left. Killing
    it ends the run: the kernel kills the rest of the namespace, and it is gone only after all of them."""
    try:
        status, end_w = _arrange(targets, (status, end_w))
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()  # the program's session: without namespaces, the helper kills it at the end
        if host.level == "user-namespaces":
            confinement.prctl(confinement.PR_SET_DUMPABLE, 0)  # it shares the program's uid
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001
        _setup_error("pid 1", exc, status)
    pid = os.fork()
    if pid == 0:
        _program(host, hdr, slot, {fd: fd for fd in targets}, status, workdir)
    for fd in [*targets, status]:
        os.close(fd)
    while True:
        try:
            got, wait_status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if got == pid:
            with contextlib.suppress(OSError):
                os.write(end_w, json.dumps([wait_status, usage.ru_utime + usage.ru_stime]).encode())
                os.close(end_w)


def _launcher(host: confinement.Host, hdr: dict[str, Any], slot: int, targets: dict[int, int], status: int,
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
        _pid1(host, hdr, slot, {fd: fd for fd in targets}, status, end_w, workdir)
    for fd in [*targets, status, end_w]:
        os.close(fd)
    os.waitpid(pid, 0)
    os._exit(0)


# ----------------------------------------------------------------------------------------------
# The spawner: per slot, pristine


def _prefork(host: confinement.Host, slot: int) -> tuple[int, socket.socket]:
    """Fork the next run's first process ahead of its request (PID 1 in new namespaces, or the rootless
    launcher): it joins the slot's cgroup now, off the next run's critical path (moving into a cgroup can
    wait for an RCU grace period, and new namespaces cost time too), then waits for the run's header and
    descriptors. Returns its pid and the socket to it. Called only when the spawner holds no run's
    descriptor, so the waiting process inherits none."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        if host.level == "namespaces":
            confinement.enter_run_namespaces(host)
        try:
            pid = os.fork()
        except BaseException:
            if host.level == "namespaces" and not _go_home(host):
                os._exit(72)
            raise
        if pid == 0:
            mine.close()
            _first_process(host, slot, theirs)
        if host.level == "namespaces" and not _go_home(host):
            os.kill(pid, signal.SIGKILL)
            os._exit(72)  # never start another run from inside this one's namespaces
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    return pid, mine


def _first_process(host: confinement.Host, slot: int, sock: socket.socket) -> NoReturn:
    """A run's first process, forked before its run: joins the slot's cgroup, waits for the run, then
    becomes the rootless launcher or PID 1. fds of the run: program pipe, stdout, stderr, status, PID 1's
    end report, control pipe[, call pipe]."""
    problem = None
    try:
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        confinement.join_run_cgroup(host)
    except BaseException as exc:  # noqa: BLE001 - reported on the run's status pipe: it must not start
        problem = exc
    received = _receive(sock, 4096)
    if received is None:  # the spawner left
        os._exit(0)
    msg, fds = received
    prog, out, err, status, end_w, ctl, *call = fds
    if problem is not None:
        _setup_error("pid 1", problem, status)
    try:
        hdr = json.loads(msg)
    except ValueError as exc:
        _setup_error("pid 1", exc, status)
    targets = {0: prog, 1: out, 2: err, program.CTL_FD: ctl}
    if call:
        targets[program.CALL_FD] = call[0]
    workdir = str(hdr.get("workdir") or confinement.WORKDIR)
    if host.level == "user-namespaces":
        _launcher(host, hdr, slot, targets, status, end_w, workdir)
    _pid1(host, hdr, slot, targets, status, end_w, workdir)


def _hand_over(host: confinement.Host, slot: int, waiting: tuple[int, socket.socket] | None, msg: bytes,
               fds: list[int]) -> int:
    """Give a run's header and descriptors to its first process (the one forked ahead, or, when that one is
    gone, e.g. killed by the previous run's OOM, a new one); returns its pid."""
    for attempt in range(2):
        pid, child = waiting if waiting is not None else _prefork(host, slot)
        waiting = None
        try:
            socket.send_fds(child, [msg], fds)
            return pid
        except OSError:
            if attempt:
                raise
        finally:
            child.close()
    raise AssertionError("unreachable")


def _go_home(host: confinement.Host) -> bool:
    try:
        confinement.leave_run_namespaces(host)
        return True
    except OSError:
        return False


def _reap_children() -> None:
    """Reap the spawner's children that have ended (each run's PID 1 stays a zombie until the next
    request, so the pid its pidfd names and the session the helper kills cannot be reused before)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _spawner(host: confinement.Host, slot: int, sock_fd: int, procs: list[int]) -> NoReturn:
    """A slot's spawner, forked by its helper before the helper served any run: on each request (limits and
    descriptors, nothing else) it hands them to the run's first process, forked ahead (`_prefork`), and
    answers with a pidfd of it. It never
    reads a run's data, so no program can find another run's data in the memory it inherits. It stays out
    of the slot's cgroup (a run's OOM can never choose it): each run's first process joins the cgroup
    through `procs` before it forks anything (`confinement.join_run_cgroup`)."""
    try:
        home = list(host.home_namespaces.values())
        proc = [host.proc_fd] if host.proc_fd is not None else []
        sock_fd, *kept = _arrange({}, (sock_fd, *home, *procs, *proc))
        host.home_namespaces = dict(zip(host.home_namespaces, kept[:len(home)], strict=True))
        host.run_cgroup_procs = kept[len(home):len(home) + len(procs)]
        host.proc_fd = kept[-1] if proc else None
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        gc.freeze()  # what runs find in memory stays shared: their collectors never touch these pages
    except BaseException:  # noqa: BLE001 - the helper sees the closed socket
        os._exit(71)
    sock = socket.socket(fileno=sock_fd)
    waiting = None  # the next run's first process, forked ahead
    while (received := _receive(sock, 4096)) is not None:
        msg, fds = received
        _reap_children()
        try:
            pid = _hand_over(host, slot, waiting, msg, fds)
            pidfd = os.pidfd_open(pid)  # a zombie until the next request at the earliest: never a reused pid
            try:
                socket.send_fds(sock, [f"started {pid}".encode()], [pidfd])
            finally:
                os.close(pidfd)
        except Exception as exc:  # noqa: BLE001 - this run's setup error, reported by the helper
            with contextlib.suppress(OSError):
                sock.send(f"error {type(exc).__name__}: {exc}"[:300].encode("utf-8", "replace"))
        finally:
            waiting = None
            for fd in fds:
                os.close(fd)
        try:  # now that it holds no run's descriptor
            waiting = _prefork(host, slot)
        except Exception:  # noqa: BLE001 - the next request forks its own
            waiting = None
    os._exit(0)


def _start_spawner(host: confinement.Host, slot: int) -> socket.socket:
    """Fork the slot's spawner (outside the slot's cgroup: each run's PID 1 joins it); returns the helper's
    socket to it."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    procs = host.cgroups.procs_files(slot) if host.cgroups else []
    if os.fork() == 0:
        mine.detach()
        _spawner(host, slot, theirs.detach(), procs)
    theirs.close()
    for fd in procs:
        os.close(fd)
    return mine


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
        """Hand the judge one run: [tests pipe, status pipe, call pipe, reply pipe]."""
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
                os.kill(self.pid, signal.SIGKILL)  # our own child, not yet reaped: the pid is still its
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


class _Slot:
    """What a slot helper holds: its socket to the harness, its spawner, its judge."""

    def __init__(self, host: confinement.Host, slot: int, sock: socket.socket, spawner: socket.socket) -> None:
        self.host, self.slot, self.sock, self.spawner = host, slot, sock, spawner
        self.judge = _Judge(host, slot)

    def serve(self, msg: bytes, fds: list[int]) -> bool:
        """Start one run, supervise it, report its end. Returns whether every process of the run is known
        to be gone (if not, the helper must not serve this slot again)."""
        host = self.host
        prog, out, err, status, extra = fds  # extra: the hint pipe (stdin runs) or the tests pipe
        own: list[int] = []  # descriptors this function opened
        base = None
        try:
            hdr = json.loads(msg)
            mode, run_id = str(hdr["mode"]), int(hdr["run"])
            baseline = None
            if host.cgroups:
                baseline = host.cgroups.set_limits(self.slot, (int(hdr["memory_mb"]) + 64) << 20, int(hdr["nproc"]) + 8)
            end_r, end_w = os.pipe()
            own += [end_r, end_w]
            if mode == "stdin":  # the program's control pipe is the hint pipe, read by the harness
                ctl_w, ctl_r, call_r, call_w = extra, -1, -1, -1
            else:
                ctl_r, ctl_w = os.pipe()  # program -> judge (replies)
                call_r, call_w = os.pipe()  # judge -> program
                own += [ctl_r, ctl_w, call_r, call_w]
            if host.level == "none":
                base = f"/tmp/r1eval-sandbox-{os.getpid()}-{time.monotonic_ns()}"
                os.mkdir(base, 0o700)
                os.mkdir(f"{base}/work", 0o700)
                hdr["workdir"] = f"{base}/work"
            spawn = [prog, out, err, status, end_w, ctl_w] + ([call_r] if mode != "stdin" else [])
            socket.send_fds(self.spawner, [json.dumps(hdr).encode()], spawn)
            reply = _receive(self.spawner, 512, 1)
            if reply is None or not reply[0].startswith(b"started ") or len(reply[1]) != 1:
                for fd in reply[1] if reply else []:
                    os.close(fd)
                why = reply[0].decode("utf-8", "replace")[6:] if reply else "the slot's spawner is gone"
                raise confinement.SetupError(why)
            pid, pidfd = int(reply[0][8:]), reply[1][0]
        except BaseException as exc:  # noqa: BLE001
            _status({"setup_error": f"helper: {type(exc).__name__}: {exc}"[:300]}, status)
            for fd in [*own, *fds]:
                os.close(fd)
            if base is not None:
                import shutil

                shutil.rmtree(base, ignore_errors=True)
            return True
        for fd in (prog, out, err, end_w, ctl_w, call_r):
            if fd >= 0:
                os.close(fd)
        started = time.monotonic()
        deadline = started + float(hdr["wall_s"])
        with contextlib.suppress(OSError):  # whom the harness kills to end the run early
            socket.send_fds(self.sock, [f"ender {run_id}".encode()], [pidfd])
        judged = mode != "stdin" and self.judge.dispatch([extra, status, call_w, ctl_r], deadline)
        if mode != "stdin":
            for fd in (call_w, ctl_r, extra):
                os.close(fd)
        # the judge's clock runs out first, so that it, not the end of the program, reports a timeout
        end, gone = _supervise(pidfd, end_r, self.judge if judged else None,
                               deadline + (JUDGE_MARGIN_S if judged else 0.0))
        end["wall_s"] = round(time.monotonic() - started, 4)
        if mode != "stdin" and not judged:
            end["judge_unavailable"] = True
        if host.level == "none":
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # the program's session (PID 1's place: a zombie, not reused yet)
            import shutil

            shutil.rmtree(base, ignore_errors=True)
        if not gone:
            end["unconfirmed"] = True
        _status({"end": end}, status)
        if baseline is not None:
            with contextlib.suppress(OSError, ValueError):
                _status({"cgroup": {"oom_kills": host.cgroups.oom_kills(self.slot) - baseline}}, status)
        for fd in (end_r, status, pidfd):
            os.close(fd)
        return gone


def _end_report(data: bytes) -> tuple[int, float] | None:
    """PID 1's report of the program's end: (wait status, CPU seconds)."""
    try:
        wait_status, cpu_s = json.loads(data)
        return int(wait_status), float(cpu_s)
    except (ValueError, TypeError):
        return None


def _supervise(pidfd: int, end_r: int, the_judge: _Judge | None, deadline: float) -> tuple[dict[str, Any], bool]:
    """Wait for the program's end (stdin runs: PID 1 reports it) or the judge's (other runs) until the
    deadline; then SIGKILL the run's PID 1, which ends the whole run, and wait (at most KILL_GRACE_S) until
    it is gone. Returns (how the program ended, whether the run is confirmed gone)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(end_r, select.POLLIN)
    if the_judge is not None:
        poller.register(the_judge.sock, select.POLLIN)
    os.set_blocking(end_r, False)
    report = bytearray()
    reported = first_gone = judge_done = timed_out = False
    while not (judge_done if the_judge is not None else (reported or first_gone)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for fd, _ in poller.poll(int(remaining * 1000) + 1):
            if fd == end_r:
                chunk = b""
                with contextlib.suppress(BlockingIOError):
                    chunk = os.read(end_r, END_REPORT_MAX)
                report += chunk[: END_REPORT_MAX - len(report)]
                if not chunk:  # PID 1 wrote its report and closed the pipe (or died)
                    reported = True
                    poller.unregister(end_r)
            elif fd == pidfd:
                first_gone = True
                poller.unregister(pidfd)
            else:
                judge_done = True
                poller.unregister(fd)
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # PID 1 (or the launcher): the whole run ends with it
    gone = first_gone or bool(select.select([pidfd], [], [], KILL_GRACE_S)[0])
    if not reported and gone:  # PID 1 may have reported just before it was killed
        with contextlib.suppress(OSError):
            report += os.read(end_r, END_REPORT_MAX)[: max(0, END_REPORT_MAX - len(report))]
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
    ended = _end_report(bytes(report))
    end: dict[str, Any] = {"timeout": timed_out, "cpu_s": round(ended[1], 4) if ended else 0.0}
    if ended is None:  # killed with its namespace before PID 1 could report it
        end["signal"] = signal.SIGKILL.value
    elif os.WIFSIGNALED(ended[0]):
        end["signal"] = os.WTERMSIG(ended[0])
    else:
        end["exit"] = os.waitstatus_to_exitcode(ended[0])
    return end, gone


def _slot_helper(host: confinement.Host, slot: int, sock_fd: int) -> NoReturn:
    """A slot's long-lived helper: forks the slot's spawner first (so the spawner holds nothing of any run),
    then serves the slot's runs one after the other (the harness reuses a slot only after its run ended).
    It leaves when the harness closes its socket, when its spawner is gone, or when a run could not be
    confirmed gone (the harness then starts a new helper for the slot once it is)."""
    try:
        parents = tuple(host.cgroups.parents.values()) if host.cgroups else ()
        home = list(host.home_namespaces.values())
        proc = [host.proc_fd] if host.proc_fd is not None else []
        sock_fd, *kept = _arrange({}, (sock_fd, *parents, *home, *proc))
        host.home_namespaces = dict(zip(host.home_namespaces, kept[len(parents):len(parents) + len(home)], strict=True))
        host.proc_fd = kept[-1] if proc else None
        if host.cgroups:  # the helper needs only the slot groups' parents
            host.cgroups.parents, host.cgroups.owners = dict(zip(host.cgroups.parents, kept, strict=False)), {}
        confinement.prctl(confinement.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        spawner = _start_spawner(host, slot)
        for fd in [*host.home_namespaces.values(), *([host.proc_fd] if host.proc_fd is not None else [])]:
            os.close(fd)  # the spawner's, not ours
        host.home_namespaces, host.proc_fd = {}, None
    except BaseException:  # noqa: BLE001 - the server sees the closed socket; the runs get no report
        os._exit(71)
    sock = socket.socket(fileno=sock_fd)
    the_slot = _Slot(host, slot, sock, spawner)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(spawner, select.POLLIN)  # readable only when the spawner is gone
    while True:
        events = dict(poller.poll())
        if spawner.fileno() in events:
            os._exit(0)
        received = _receive(sock, 4096)
        if received is None:
            os._exit(0)
        msg, fds = received
        for fd in fds:
            os.set_inheritable(fd, False)
        if len(fds) == 5:
            if not the_slot.serve(msg, fds):  # closes the run's descriptors
                os._exit(0)
        else:
            for fd in fds:
                os.close(fd)


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
        pipes = {name: os.pipe() for name in ("program", "out", "err", "status", "tests")}
        header = {"run": 0, "mode": "check", "module_name": "__main__", "wall_s": 20, "cpu_s": 20, "memory_mb": 512,
                  "file_mb": 1, "tmp_mb": 1, "nproc": 8, "nofile": 64}
        theirs = [pipes["program"][0], pipes["out"][1], pipes["err"][1], pipes["status"][1], pipes["tests"][0]]
        socket.send_fds(helper, [json.dumps(header).encode()], theirs)
        for fd in theirs:
            os.close(fd)
        for name, message in (("program", {"source": PROBE[0]}),
                              ("tests", {"kind": "check", "test_code": PROBE[1], "reply_cap": 1 << 16})):
            os.write(pipes[name][1], wire.json_message(message))
            os.close(pipes[name][1])
        out = {name: bytearray() for name in ("out", "err", "status")}
        poller = select.poll()
        open_fds = {pipes[name][0]: name for name in out}
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
        lines = [json.loads(line) for line in bytes(out["status"]).splitlines() if line.strip()]
        errors = [m["setup_error"] for m in lines if "setup_error" in m]
        if errors:
            return errors[0]
        verdict = next((m["judge"].get("verdict") for m in lines if "judge" in m), None)
        if verdict != "passed":
            end = next((m["end"] for m in lines if "end" in m), None)
            return f"probe run: judge {verdict}, end {end}, {bytes(out['err'])[-300:].decode(errors='replace')}"
        return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if helper is not None:
            helper.close()  # the probe's helper (its spawner and its judge) leave; its pidfd message with it


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
    info = {"level": host.level, "isolation": host.describe(), "reasons": host.reasons, "server_pid": os.getpid(),
            "oom_score_adj": host.oom_score_adj}
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
