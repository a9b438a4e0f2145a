"""Linux confinement for sandboxed runs: the host's setup once, then each run's namespaces, mounts, identity
and limits. The pieces live in their own modules: `rootfs` (the read-only root), `seccomp`, `cgroups`, `uids`
(uid leases), `syscalls` (libc wrappers).

Stdlib and ctypes only: this module runs inside the fork server (`server.py`) and its children.

- Once, when the fork server starts (`prepare_host`): a private mount namespace whose root is a
  read-only tmpfs holding only what a program needs, bind-mounted read-only (`/usr`, `/bin`, `/sbin`,
  `/lib*`, the Python interpreter and its standard library with every site-packages directory masked,
  the allowlisted third-party packages, a few `/etc` files, a private `/dev` with null, zero, full,
  random, urandom); a seccomp filter compiled to BPF; cgroup parents; a leased block of uids.
- Once per run slot, in its helper (`Cgroups.procs_files`): the slot's cgroup, handed to its spawner.
- Per run, in the helper and the spawner (`Cgroups.set_limits`, `enter_run_namespaces`,
  `leave_run_namespaces`): the run's caps; new PID, network, mount, IPC and UTS namespaces for the run's
  processes (and a user namespace when not root); in the run's PID 1 (`join_run_cgroup`): the slot's
  cgroup and oom_score_adj 1000, both inherited by every process of the run.
- Per run, in the program's process (`mount_run_filesystems`, `confine`): fresh size-limited tmpfs on
  /tmp and /dev/shm and a fresh /proc (other users' processes hidden), then an unprivileged uid (or,
  without root, no capabilities), no_new_privs, rlimits, the seccomp filter. The judge is confined the
  same way, once, under a uid of its own.
"""


from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
from dataclasses import dataclass, field

from r1eval.grading.sandbox import rootfs, uids
from r1eval.grading.sandbox.cgroups import Cgroups
from r1eval.grading.sandbox.seccomp import build_seccomp_filter, load_seccomp
from r1eval.grading.sandbox.syscalls import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    RUN_NAMESPACES,
    SetupError,
    check,
    libc,
    mount,
    prctl,
    unshare,
)

LEVELS = ("namespaces", "user-namespaces", "none")
TMP_INODES_PER_MB = 256  # files a run's /tmp and /dev/shm may hold per MB of their size (16,384 at 64 MB)
SANDBOX_GID = 65534  # nogroup


# ----------------------------------------------------------------------------------------------
# The host: what the fork server set up once


@dataclass
class Host:
    """The isolation the fork server could set up (`level`, one of LEVELS) and the pieces runs reuse."""

    level: str = "none"
    reasons: list[str] = field(default_factory=list)  # what is missing, and why
    seccomp: bytes | None = None
    cgroups: Cgroups | None = None
    uid_block: int | None = None  # root: leased uid block
    lease_fd: int | None = None
    uid: int = 0  # the fork server's own uid and gid (rootless runs keep them)
    gid: int = 0
    home_namespaces: dict[int, int] = field(default_factory=dict)  # root: CLONE_NEW* flag -> fd of ours
    proc_fd: int | None = None  # root: the host's /proc (the sandbox root has none), for oom_score_adj
    oom_score_adj: int | None = None  # the fork server's, as read back (helpers and judges inherit it)
    run_cgroup_procs: list[int] = field(default_factory=list)  # a spawner's: its slot's cgroup.procs files

    def describe(self) -> str:
        """e.g. 'namespaces+seccomp+cgroup-v1': recorded as the runs' isolation."""
        parts = [self.level]
        if self.seccomp is not None:
            parts.append("seccomp")
        if self.cgroups is not None:
            parts.append(f"cgroup-{self.cgroups.version}")
        return "+".join(parts)


def _write_id_maps(uid: int, gid: int) -> None:
    """A user namespace mapping only our own uid and gid (all an unprivileged user may map)."""
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{gid} {gid} 1")


def prepare_host(packages: list[str], force_none: bool) -> Host:
    """In the fork server, once: choose the isolation level and set up what every run reuses."""
    host = Host(uid=os.geteuid(), gid=os.getegid())
    try:
        host.seccomp = build_seccomp_filter()
    except (SetupError, OSError) as exc:
        host.reasons.append(f"no seccomp filter: {exc}")
    if force_none:
        host.reasons.append("R1EVAL_SANDBOX_ISOLATION=none")
        return host
    try:
        unshare(CLONE_NEWNS)
        host.level = "namespaces"
    except OSError as exc:
        try:
            unshare(CLONE_NEWUSER | CLONE_NEWNS)
            _write_id_maps(host.uid, host.gid)
            host.level = "user-namespaces"
        except OSError as exc2:
            host.reasons.append(f"no mount namespace as this user ({exc.strerror}) and no user namespace "
                                f"({exc2.strerror})")
            return host
    host.oom_score_adj = protect_from_oom()
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        if host.level == "namespaces":
            host.uid_block, host.lease_fd = uids.lease_uid_block()
            host.cgroups, why = Cgroups.detect(host.uid_block)
            if host.cgroups is None:
                host.reasons.append(f"no per-run cgroup ({why}); memory and processes are capped per process "
                                    "(RLIMIT_AS) and per uid (RLIMIT_NPROC) only")
        else:
            host.reasons.append("not root: no per-run cgroup; memory and processes are capped per process "
                                "(RLIMIT_AS) and per run user namespace (RLIMIT_NPROC) only")
        stage = rootfs.staging_dir([*rootfs.python_files()[0], *packages])
        rootfs.build_root(stage, packages, rootless=host.level == "user-namespaces")
        if host.level == "namespaces":  # slot helpers create each run's namespaces and come back to these
            host.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for flag, name in ((CLONE_NEWNS, "mnt"), (CLONE_NEWNET, "net"), (CLONE_NEWIPC, "ipc"),
                               (CLONE_NEWUTS, "uts"), (CLONE_NEWPID, "pid")):
                host.home_namespaces[flag] = os.open(f"/proc/self/ns/{name}", os.O_RDONLY)
        rootfs.pivot_into(stage)
    except (OSError, SetupError) as exc:
        host.reasons.append(f"could not build the sandbox filesystem ({exc})")
        host.level = "none"
    return host


def protect_from_oom() -> int | None:
    """Ask the OOM killer to spare this process (the fork server; its helpers, spawners and judges inherit
    it): oom_score_adj -1000 where the kernel lets us. Returns the value read back (some hosts silently keep
    0: then runs, alone in their memory cgroups and at +1000, are still the OOM killer's first choice)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("-1000")
    except OSError:
        pass
    try:
        with open("/proc/self/oom_score_adj") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def join_run_cgroup(host: Host) -> None:
    """In a run's first process, before it forks anything: join the slot's cgroups (the run's memory and
    pids caps count every process of the run and nothing else) and ask the OOM killer to take the run's
    processes first (oom_score_adj 1000, inherited by the program)."""
    for fd in host.run_cgroup_procs:
        os.write(fd, b"0")
    path, dir_fd = ("self/oom_score_adj", host.proc_fd) if host.proc_fd is not None else ("/proc/self/oom_score_adj", None)
    with contextlib.suppress(OSError):  # raising one's own oom_score_adj is always allowed where /proc is
        fd = os.open(path, os.O_WRONLY, dir_fd=dir_fd)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------------------
# Per run


def enter_run_namespaces(host: Host) -> None:
    """New PID (for the caller's children), network, mount, IPC and UTS namespaces; without root, in a new
    user namespace too (one per run: RLIMIT_NPROC then counts per run)."""
    if host.level == "user-namespaces":
        unshare(CLONE_NEWUSER | RUN_NAMESPACES)
        _write_id_maps(host.uid, host.gid)
    else:
        unshare(RUN_NAMESPACES)


def leave_run_namespaces(host: Host) -> None:
    """Back to the fork server's namespaces after forking a run's PID 1 (root only: a user namespace
    cannot be left)."""
    for flag, fd in host.home_namespaces.items():
        check(libc().setns(fd, flag), "setns")


def mount_run_filesystems(tmp_mb: int, work_uid: int, work_gid: int) -> None:
    """In the program's process, still privileged inside the run's namespaces: private writable /tmp
    (with the program's working directory) and /dev/shm, a fresh /proc, hostname 'sandbox'. Each tmpfs
    holds at most TMP_INODES_PER_MB files per MB: the kernel frees a tmpfs's inodes when the run ends,
    and a million empty files took 1.8 s to free, past the run's time limit."""
    opts = f"size={tmp_mb}m,nr_inodes={max(1024, tmp_mb * TMP_INODES_PER_MB)},mode=1777"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
    os.mkdir(rootfs.WORKDIR, 0o700)
    os.chown(rootfs.WORKDIR, work_uid, work_gid)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    for data in ("hidepid=2,subset=pid", "hidepid=2"):  # subset=pid (5.8+): no /proc/sys, kcore, ...
        try:
            mount("proc", "/proc", "proc", flags, data)
            break
        except OSError:
            continue
    else:
        raise SetupError("cannot mount a fresh /proc")
    with contextlib.suppress(OSError):
        libc().sethostname(b"sandbox", 7)


def _drop_capabilities() -> None:
    """Without root the run keeps our uid: clear every capability the user namespace gave us."""
    lib = libc()
    cap = 0
    while lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 or ctypes.get_errno() != errno.EINVAL:
        cap += 1
        if cap > 63:
            break
    lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    check(lib.capset(ctypes.byref(header), data), "capset")


@dataclass
class Limits:
    """Per-process rlimits of a program or judge (hard = soft); cpu_s None: no CPU limit (the judge lives
    across runs; its callers' clocks bound it)."""

    cpu_s: int | None
    memory_mb: int
    file_mb: int
    nproc: int
    nofile: int
    stack_mb: int | None = None  # RLIMIT_STACK (also glibc's default thread stack); None: the memory, at most 256 MB

    def apply(self) -> None:
        import resource

        mem = self.memory_mb << 20
        cpu = resource.RLIM_INFINITY if self.cpu_s is None else self.cpu_s
        for which, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                             (resource.RLIMIT_STACK, min(mem, (self.stack_mb or 256) << 20)), (resource.RLIMIT_FSIZE, self.file_mb << 20),
                             (resource.RLIMIT_NPROC, self.nproc), (resource.RLIMIT_NOFILE, self.nofile),
                             (resource.RLIMIT_CORE, 0), (resource.RLIMIT_MEMLOCK, 0)):
            resource.setrlimit(which, (value, value))


def confine(host: Host, uid: int | None, limits: Limits, *, dumpable: bool) -> None:
    """Drop to an unprivileged identity with no way back, apply limits and the seccomp filter."""
    if host.level == "namespaces" and uid is not None:
        os.setgroups([])
        os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
        os.setresuid(uid, uid, uid)  # from root to a non-zero uid: every capability is gone
    elif host.level == "user-namespaces":
        _drop_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a uid change clears it, so set it after
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)
    limits.apply()
    if host.seccomp is not None:
        load_seccomp(host.seccomp)
