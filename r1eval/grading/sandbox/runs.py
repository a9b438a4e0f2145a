"""A run's processes and the slot's spawner (sandbox side; stdlib only): PID 1 of the run's namespaces,
the rootless launcher, the program's process, and the spawner that forks each run's first process ahead of
its request. See server.py for the whole picture.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import signal
import socket
from typing import Any, NoReturn

from r1eval.grading.sandbox import confinement, native, program, rootfs, syscalls, uids, wire


def status_line(msg: dict[str, Any], fd: int) -> None:
    """One JSON line on the status pipe (its fields are bounded, so it is written at once)."""
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "replace"))


def setup_error(where: str, exc: BaseException, fd: int) -> NoReturn:
    """Report why a process of the run could not be confined (its code does not run) and exit."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {frame.name}:{frame.lineno})" if frame else ""
    status_line({"setup_error": f"{where}: {type(exc).__name__}: {exc}{at}"[:300]}, fd)
    os._exit(70)


def arrange_fds(targets: dict[int, int], keep: tuple[int, ...] = ()) -> list[int]:
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


def receive(sock: socket.socket, size: int, max_fds: int = 8) -> tuple[bytes, list[int]] | None:
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
        (status,) = arrange_fds(targets, (status,))
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        uid = uids.run_uids(host.uid_block, slot)[0] if host.uid_block is not None else None
        owner = (uid, confinement.SANDBOX_GID) if uid is not None else (host.uid, host.gid)
        if host.level != "none":
            confinement.mount_run_filesystems(int(hdr["tmp_mb"]), *owner)
        message = wire.read_json_message(0)  # the program pipe: the source first, then (stdin runs) the input
        source = message["source"] if isinstance(message, dict) and isinstance(message.get("source"), str) else None
        if source is None:
            raise syscalls.SetupError("no source on the program pipe")
        spec = message.get("native")  # another language than Python: see native.py
        if mode != "stdin" or (spec is not None and spec.get("phase") == "compile"):
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
        program_dir = os.path.join(os.path.dirname(workdir), "program")
        if spec is not None:
            native.prepare(spec, program_dir, workdir)
        else:
            path = program.write_source(source, program_dir)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox"})
        limits = confinement.Limits(int(hdr["cpu_s"]), int(hdr.get("address_mb") or hdr["memory_mb"]),
                                    int(hdr["file_mb"]), int(hdr["nproc"]), int(hdr["nofile"]), hdr.get("stack_mb"))
        confinement.confine(host, uid, limits, dumpable=True)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001 - never run the program half-confined
        setup_error("program", exc, status)
    os.close(status)
    if spec is not None:
        native.start(spec, dict(os.environ))
    program.run(mode, source, hdr.get("module_name", "__main__"), path)


def _pid1(host: confinement.Host, hdr: dict[str, Any], slot: int, targets: dict[int, int], status: int,
          end_w: int, workdir: str) -> NoReturn:
    """PID 1 of the run's PID namespace (without isolation: the program's parent). Forked for this run
    alone, from a process that never held another run's data. Forks the program, reaps every process of
    the run (orphans and `CLONE_PARENT` children come to it), writes
    the program's end (wait status, CPU seconds) to `end_w`, and leaves when no child is left. Killing
    it ends the run: the kernel kills the rest of the namespace, and it is gone only after all of them."""
    try:
        status, end_w = arrange_fds(targets, (status, end_w))
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()  # the program's session: without namespaces, the helper kills it at the end
        if host.level == "user-namespaces":
            syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)  # it shares the program's uid
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001
        setup_error("pid 1", exc, status)
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
        status, end_w = arrange_fds(targets, (status, end_w))
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        confinement.enter_run_namespaces(host)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException as exc:  # noqa: BLE001
        setup_error("launcher", exc, status)
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
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        confinement.join_run_cgroup(host)
    except BaseException as exc:  # noqa: BLE001 - reported on the run's status pipe: it must not start
        problem = exc
    received = receive(sock, 4096)
    if received is None:  # the spawner left
        os._exit(0)
    msg, fds = received
    prog, out, err, status, end_w, ctl, *call = fds
    if problem is not None:
        setup_error("pid 1", problem, status)
    try:
        hdr = json.loads(msg)
    except ValueError as exc:
        setup_error("pid 1", exc, status)
    targets = {0: prog, 1: out, 2: err, program.CTL_FD: ctl}
    if call:
        targets[program.CALL_FD] = call[0]
    workdir = str(hdr.get("workdir") or rootfs.WORKDIR)
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
        sock_fd, *kept = arrange_fds({}, (sock_fd, *home, *procs, *proc))
        host.home_namespaces = dict(zip(host.home_namespaces, kept[:len(home)], strict=True))
        host.run_cgroup_procs = kept[len(home):len(home) + len(procs)]
        host.proc_fd = kept[-1] if proc else None
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        gc.freeze()  # what runs find in memory stays shared: their collectors never touch these pages
    except BaseException:  # noqa: BLE001 - the helper sees the closed socket
        os._exit(71)
    sock = socket.socket(fileno=sock_fd)
    waiting = None  # the next run's first process, forked ahead
    while (received := receive(sock, 4096)) is not None:
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


def start_spawner(host: confinement.Host, slot: int) -> socket.socket:
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
