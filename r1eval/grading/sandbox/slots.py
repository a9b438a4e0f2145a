"""A run slot's long-lived helper and its judge process (sandbox side; stdlib only): the helper sets the
slot's caps, has the spawner start each run, hands the judge its part and supervises the run on its own
clock. See server.py for the whole picture.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import time
from typing import Any, NoReturn

from r1eval.grading.sandbox import confinement, judge, syscalls, uids
from r1eval.grading.sandbox.runs import arrange_fds, receive, start_spawner, status_line

JUDGE_GRACE_S = 2.0  # after the run's end, how long the judge may take to finish before it is replaced
JUDGE_MARGIN_S = 0.5  # the helper's clock for a judged run runs this much longer than the judge's
KILL_GRACE_S = 5.0  # how long the helper waits for a killed run's PID 1 to be gone
END_REPORT_MAX = 256  # bytes of PID 1's report of the program's end


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
        (sock_fd,) = arrange_fds({}, (sock_fd,))
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if host.level != "none":
            syscalls.unshare(syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNET | syscalls.CLONE_NEWNS
                                | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException:  # noqa: BLE001 - the helper sees the closed socket
        os._exit(71)
    pid = os.fork()
    if pid:
        os.close(sock_fd)
        os.waitpid(pid, 0)
        os._exit(0)
    try:
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if host.level == "user-namespaces":  # the host's /proc is bound into the tree; the judge needs none
            syscalls.detach("/proc")
        devnull = os.open("/dev/null", os.O_RDWR)
        arrange_fds({0: devnull, 1: devnull, 2: devnull, judge.CONTROL_FD: sock_fd})
        uid = uids.run_uids(host.uid_block, slot)[1] if host.uid_block is not None else None
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
            reply = receive(self.spawner, 512, 1)
            if reply is None or not reply[0].startswith(b"started ") or len(reply[1]) != 1:
                for fd in reply[1] if reply else []:
                    os.close(fd)
                why = reply[0].decode("utf-8", "replace")[6:] if reply else "the slot's spawner is gone"
                raise syscalls.SetupError(why)
            pid, pidfd = int(reply[0][8:]), reply[1][0]
        except BaseException as exc:  # noqa: BLE001
            status_line({"setup_error": f"helper: {type(exc).__name__}: {exc}"[:300]}, status)
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
        status_line({"end": end}, status)
        if baseline is not None:
            with contextlib.suppress(OSError, ValueError):
                status_line({"cgroup": {"oom_kills": host.cgroups.oom_kills(self.slot) - baseline}}, status)
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
        sock_fd, *kept = arrange_fds({}, (sock_fd, *parents, *home, *proc))
        host.home_namespaces = dict(zip(host.home_namespaces, kept[len(parents):len(parents) + len(home)], strict=True))
        host.proc_fd = kept[-1] if proc else None
        if host.cgroups:  # the helper needs only the slot groups' parents
            host.cgroups.parents, host.cgroups.owners = dict(zip(host.cgroups.parents, kept, strict=False)), {}
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        spawner = start_spawner(host, slot)
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
        received = receive(sock, 4096)
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


def start_helper(host: confinement.Host, slot: int) -> socket.socket:
    """Fork a slot helper; returns the only socket to it (the harness sends it runs directly)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        mine.detach()
        _slot_helper(host, slot, theirs.detach())
    theirs.close()
    return mine
