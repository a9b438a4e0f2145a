"""Linux confinement for sandboxed runs: mount tree, namespaces, seccomp, cgroups, uid leases, privileges.

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
import fcntl
import os
import secrets
import signal
import stat
import sys
import sysconfig
from dataclasses import dataclass, field

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
RUN_NAMESPACES = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYSCALLS = {  # used only when this glibc has no wrapper
    "x86_64": {"pivot_root": 155, "mount_setattr": 442},
    "aarch64": {"pivot_root": 41, "mount_setattr": 442},
}

LEVELS = ("namespaces", "user-namespaces", "none")
TMP_INODES_PER_MB = 256  # files a run's /tmp and /dev/shm may hold per MB of their size (16,384 at 64 MB)
SANDBOX_GID = 65534  # nogroup
WORKDIR = "/tmp/work"
SITE_DIR = "/opt/r1eval-sandbox/site-packages"  # allowlisted third-party packages, read-only
# Directories of the host bound read-only into every sandbox (symlinks such as /bin -> usr/bin are copied).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "nsswitch.conf")
DEV_NODES = ("null", "zero", "full", "random", "urandom")
ETC_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
ETC_GROUP = "root:x:0:\nnogroup:x:65534:\n"
ETC_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"

# Uid leases (root only): every grader process (fork server) holds one block of uids for its runs,
# locked with flock on a file that lives as long as the lease; two graders never share a block.
UID_BASE, UID_BLOCK, UID_BLOCKS = 2_000_000_000, 512, 4096
MAX_SLOTS = UID_BLOCK // 2  # each run in flight uses two uids: the program's and the judge's
LEASE_DIRS = ("/run/r1eval-sandbox", "/dev/shm/r1eval-sandbox", "/tmp/r1eval-sandbox")


class SetupError(Exception):
    """The sandbox could not be built (the run is not executed)."""


# ----------------------------------------------------------------------------------------------
# libc


_LIBC = None


def libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.syscall.restype = ctypes.c_long
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _LIBC = lib
    return _LIBC


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _syscall(name: str, *args) -> int:
    lib = libc()
    fn = getattr(lib, name, None)
    if fn is not None:
        return fn(*args)
    number = _SYSCALLS.get(os.uname().machine, {}).get(name)
    if number is None:
        ctypes.set_errno(errno.ENOSYS)
        return -1
    return lib.syscall(number, *args)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if a is None else a.encode() for a in (source, target, fstype)]
    _check(libc().mount(*args, flags, None if data is None else data.encode()), f"mount {fstype or source} on {target}")


def prctl(option: int, arg: int = 0) -> None:
    _check(libc().prctl(option, arg, 0, 0, 0), f"prctl({option})")


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), "unshare")


def _make_read_only(target: str) -> None:
    """Read-only, nosuid, nodev for a mount and everything below it (device nodes are bound separately)."""
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    ret = _syscall("mount_setattr", -100, target.encode(), AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret == 0:
        return
    # kernels before 5.12: remount every mount at or below target, keeping the flags it already has
    with open("/proc/self/mountinfo") as fh:
        rows = [line.split() for line in fh]
    for row in rows:
        point, opts = row[4].replace("\\040", " "), set(row[5].split(","))
        if point == target or point.startswith(target.rstrip("/") + "/"):
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
            flags |= MS_NOEXEC if "noexec" in opts else 0
            mount(None, point, None, flags)


def _bind_read_only(source: str, target: str, *, keep_devices: bool = False) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if keep_devices:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    else:
        _make_read_only(target)


# ----------------------------------------------------------------------------------------------
# The read-only root: built once in the fork server, copied into each run's mount namespace


def python_files() -> tuple[list[str], list[str]]:
    """(paths to bind, site-packages directories to mask): the interpreter, its standard library and the
    shared libraries it has loaded, minus every site-packages directory (third-party code and data, such
    as benchmark files shipped inside packages, stays out; allowlisted packages are bound separately)."""
    import glob
    import site

    paths = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"), os.path.realpath(sys.executable)}
    with contextlib.suppress(OSError), open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/") and ".so" in os.path.basename(fields[5]):
                paths.add(fields[5].strip())
    real = {os.path.realpath(p) for p in paths if p and os.path.exists(p)}
    masks = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    for prefix in ("/usr/lib/python3*", "/usr/local/lib/python3*", sysconfig.get_path("stdlib")):
        for kind in ("site-packages", "dist-packages"):
            masks.update(glob.glob(f"{prefix}/{kind}"))
    real_masks = sorted({os.path.realpath(m) for m in masks if m and os.path.isdir(m)})
    return sorted(real), real_masks


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _mkdirs(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, 0o755, exist_ok=True)
    return target


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def build_root(stage: str, packages: list[str], *, rootless: bool) -> None:
    """Mount the sandbox's root filesystem at `stage` (an empty directory in a private mount namespace)."""
    python_paths, site_masks = python_files()
    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    system = []
    for name in SYSTEM_DIRS:
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{stage}/{name}")
        elif os.path.isdir(host):
            os.mkdir(f"{stage}/{name}", 0o755)
            _bind_read_only(host, f"{stage}/{name}")
            system.append(host)
    system = [os.path.realpath(p) for p in system]
    for path in python_paths:
        if _under(path, system):
            continue
        target = stage + path
        if os.path.isdir(path):
            _mkdirs(stage, path)
        else:
            _touch(target)
        _bind_read_only(path, target)
    for mask in site_masks:  # site-packages inside a bound tree: an empty read-only directory instead
        target = stage + mask
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755")
    site_dir = _mkdirs(stage, SITE_DIR)
    for path in packages:  # allowlisted third-party packages (and their bundled-libraries directories)
        name = os.path.basename(path.rstrip("/"))
        target = f"{site_dir}/{name}"
        if os.path.isdir(path):
            os.mkdir(target, 0o755)
        else:
            _touch(target)
        _bind_read_only(path, target)
    etc = _mkdirs(stage, "/etc")
    for name, text in (("passwd", ETC_PASSWD), ("group", ETC_GROUP), ("hosts", ETC_HOSTS), ("hostname", "sandbox\n")):
        with open(f"{etc}/{name}", "w") as fh:
            fh.write(text)
    for name in ETC_FILES:
        host = os.path.realpath(f"/etc/{name}")
        if not os.path.exists(host):
            continue
        if os.path.isdir(host):
            os.mkdir(f"{etc}/{name}", 0o755)
        else:
            _touch(f"{etc}/{name}")
        _bind_read_only(host, f"{etc}/{name}")
    dev = _mkdirs(stage, "/dev")
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}") and stat.S_ISCHR(os.stat(f"/dev/{name}").st_mode):
            _touch(f"{dev}/{name}")
            _bind_read_only(f"/dev/{name}", f"{dev}/{name}", keep_devices=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o755)
    os.mkdir(f"{stage}/tmp", 0o755)
    os.mkdir(f"{stage}/proc", 0o555)
    if rootless:  # a user namespace may mount a fresh /proc only where a full one is already visible
        mount("/proc", f"{stage}/proc", None, MS_BIND | MS_REC)
    mount(None, stage, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,mode=0755")


def detach(target: str) -> None:
    """Unmount target (lazily) from this mount namespace."""
    _check(libc().umount2(target.encode(), MNT_DETACH), f"detach {target}")


def pivot_into(stage: str) -> None:
    """Make `stage` this mount namespace's root and drop the host's tree from it."""
    os.chdir(stage)
    _check(_syscall("pivot_root", b".", b"."), "pivot_root")
    _check(libc().umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def _staging_dir(sources: list[str]) -> str:
    for candidate in ("/mnt", "/media", "/srv", "/tmp", "/opt", "/var"):
        if os.path.isdir(candidate) and not any(_under(s, [candidate]) for s in sources):
            return candidate
    raise SetupError("no directory to build the sandbox root on")


# ----------------------------------------------------------------------------------------------
# seccomp


DENIED_SYSCALLS = (
    # kernel keyring: keys outlive a run and are readable by later runs of the same uid
    "add_key", "keyctl", "request_key",
    # other processes' memory and file descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    # namespaces and mounts, the new mount API included
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "mount_setattr", "move_mount",
    "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "statmount", "listmount",
    # kernel attack surface a program never needs
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "nfsservctl", "syslog",
    "vhangup", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "name_to_handle_at", "open_by_handle_at", "fanotify_init", "fanotify_mark", "uselib",
    # channels between concurrent runs through the files they all can read (the shared read-only tree):
    # file locks and access notifications
    "flock", "inotify_add_watch",
)
# Syscalls newer than some libseccomp releases know by name: their numbers (the same on x86_64 and aarch64).
NEW_SYSCALL_NUMBERS = {"statmount": 457, "listmount": 458, "open_tree_attr": 467}
# fcntl commands refused for the same reason: F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK,
# F_OFD_SETLKW, F_SETLEASE, F_NOTIFY
DENIED_FCNTL_COMMANDS = (5, 6, 7, 36, 37, 38, 1024, 1026)
CLONE_PARENT = 0x00008000  # the child would be the caller's sibling: a child of whoever started the run
DENIED_CLONE_FLAGS = (CLONE_PARENT, CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                      CLONE_NEWPID, CLONE_NEWNET)
# socket families a program may open: unix, inet, inet6, netlink (getaddrinfo); not vsock (which reaches
# the hypervisor, network namespaces do not cover it), packet, alg, bluetooth, ...
ALLOWED_SOCKET_FAMILIES = (1, 2, 10, 16)
# personality flags refused: no ASLR, executable data (they only help exploits)
DENIED_PERSONALITY_FLAGS = (0x0040000, 0x0400000)  # ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
LOW32 = 0xFFFFFFFF  # the kernel reads int arguments from the low 32 bits of their 64-bit register


def _scmp_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _low32_is(arg: int, value: int) -> tuple[int, int, int, int]:
    """Argument `arg`, taken as the 32-bit int the kernel sees, equals `value` (higher bits ignored: a
    plain 64-bit comparison would let `F_SETLK | 1 << 32` through)."""
    return arg, SCMP_CMP_MASKED_EQ, LOW32, value


def _bits_set(arg: int, bits: int, clear: int = 0) -> tuple[int, int, int, int]:
    """Every bit of `bits` set (and every bit of `clear` unset) in argument `arg`; bits above 31 never matter."""
    return arg, SCMP_CMP_MASKED_EQ, (bits | clear) & LOW32, bits & LOW32


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def build_seccomp_filter() -> bytes:
    """The BPF program (compiled once by libseccomp) that every program and judge process loads. Every
    argument comparison looks at the low 32 bits only, as the kernel does for int arguments."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise SetupError(f"libseccomp.so.2 not found ({exc})") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ScmpArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SetupError("seccomp_init failed")

    def rule(action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # unknown to this libseccomp: by number where we know it, else not on this architecture
            nr = NEW_SYSCALL_NUMBERS.get(name, -1) if os.uname().machine in ("x86_64", "aarch64") else -1
            if nr < 0:
                return
        arr = (_ScmpArgCmp * max(len(cmps), 1))(*[_ScmpArgCmp(*c) for c in cmps])
        ret = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if ret != 0:
            raise SetupError(f"seccomp rule for {name}: {os.strerror(-ret)}")

    try:
        for name in DENIED_SYSCALLS:
            rule(_scmp_errno(errno.EPERM), name)
        for flag in DENIED_CLONE_FLAGS:  # new namespaces, or a child outside the run's process tree
            rule(_scmp_errno(errno.EPERM), "clone", _bits_set(0, flag))
        rule(_scmp_errno(errno.ENOSYS), "clone3")  # its flags sit in memory: glibc falls back to clone()
        for command in DENIED_FCNTL_COMMANDS:
            for call in ("fcntl", "fcntl64"):
                rule(_scmp_errno(errno.ENOLCK), call, _low32_is(1, command))
        for call in ("socket", "socketpair"):  # family (argument 0) not among the allowed ones
            for bit in range(5, 32):  # 32 or more
                rule(_scmp_errno(errno.EAFNOSUPPORT), call, _bits_set(0, 1 << bit))
            for family in range(32):
                if family not in ALLOWED_SOCKET_FAMILIES:
                    rule(_scmp_errno(errno.EAFNOSUPPORT), call, _low32_is(0, family))
        for flag in DENIED_PERSONALITY_FLAGS:  # bit 31 set: 0xffffffff, the query, which changes nothing
            rule(_scmp_errno(errno.EPERM), "personality", _bits_set(0, flag, clear=1 << 31))
        read_fd, write_fd = os.pipe()
        try:
            ret = lib.seccomp_export_bpf(ctx, write_fd)
            if ret != 0:
                raise SetupError(f"seccomp_export_bpf: {os.strerror(-ret)}")
            os.close(write_fd)
            write_fd = -1
            chunks = []
            while chunk := os.read(read_fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        return b"".join(chunks)
    finally:
        lib.seccomp_release(ctx)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(program: bytes) -> None:
    """Install the filter on this process (no_new_privs must be set); children inherit it."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp filter")


# ----------------------------------------------------------------------------------------------
# uid leases


def _lease_dir() -> int:
    for path in LEASE_DIRS:
        with contextlib.suppress(OSError):
            os.makedirs(path, 0o700, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            st = os.fstat(fd)
            if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                return fd
            os.close(fd)
    raise SetupError(f"no private directory for uid leases among {', '.join(LEASE_DIRS)}")


def _lock_block(dir_fd: int, block: int) -> int | None:
    fd = os.open(f"uids-{block}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lease_uid_block() -> tuple[int, int]:
    """(block, fd): a block of UID_BLOCK uids no other grader process holds; the lease lasts while fd is
    open in any process (the fork server and the runs it started)."""
    dir_fd = _lease_dir()
    try:
        first = os.environ.get("R1EVAL_SANDBOX_UID_BLOCK")  # tests: make two graders want the same block
        first = int(first) % UID_BLOCKS if first and first.isdigit() else secrets.randbelow(UID_BLOCKS)
        for i in range(UID_BLOCKS):
            block = (first + i) % UID_BLOCKS
            fd = _lock_block(dir_fd, block)
            if fd is not None:
                return block, fd
    finally:
        os.close(dir_fd)
    raise SetupError("every sandbox uid block is leased")


def block_is_free(block: int) -> bool:
    try:
        dir_fd = _lease_dir()
    except SetupError:
        return False
    try:
        fd = _lock_block(dir_fd, block)
    finally:
        os.close(dir_fd)
    if fd is None:
        return False
    os.close(fd)
    return True


def run_uids(block: int, slot: int) -> tuple[int, int]:
    """(program uid, judge uid) of one run slot."""
    base = UID_BASE + block * UID_BLOCK + 2 * slot
    return base, base + 1


# ----------------------------------------------------------------------------------------------
# cgroups: per-run memory and process caps for the whole process tree


def _mountinfo() -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of each mount."""
    rows = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            a, b = left.split(), right.split()
            if len(a) >= 5 and len(b) >= 3:
                rows.append((a[3], a[4].replace("\\040", " "), b[0], set(b[2].split(","))))
    return rows


def _own_cgroups() -> dict[str, str]:
    """controller ('memory', 'pids', or '' for the v2 unified hierarchy) -> this process's cgroup path."""
    own = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            hier, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _cgroup_dir(mount_root: str, mount_point: str, path: str) -> str:
    rel = os.path.relpath(path, mount_root) if mount_root != "/" else path.lstrip("/")
    return os.path.normpath(os.path.join(mount_point, rel if rel != "." else ""))


def _read_int_field(dir_fd: int, name: str, key: str) -> int:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        text = os.read(fd, 1 << 16).decode()
    finally:
        os.close(fd)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def _write(dir_fd: int, name: str, value: str) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


@dataclass
class Cgroups:
    """One child cgroup per run slot under `<this process's cgroup>/r1eval-sandbox-<tag>`, created on first
    use and reused (cheaper than a mkdir/rmdir per run). Each run's PID 1 moves itself in before it forks
    the program, so every process of the run is counted and nothing else is: the spawner, helpers and
    judges stay outside, and the group's OOM killer can only choose among the run's own processes. v2
    when memory and pids are available there, else the v1 memory and pids hierarchies."""

    version: str
    parents: dict[str, int]  # controller ('memory', 'pids'; 'unified' on v2) -> fd of r1eval-sandbox-<tag>
    owners: dict[str, int]  # controller -> fd of the directory holding r1eval-sandbox-<tag>
    name: str
    created: set[int] = field(default_factory=set)

    @classmethod
    def detect(cls, tag: int) -> tuple[Cgroups | None, str]:
        """(cgroups, '') or (None, why per-run caps are not available)."""
        try:
            mounts, own = _mountinfo(), _own_cgroups()
        except OSError as exc:
            return None, f"cannot read cgroup membership ({exc})"
        name = f"r1eval-sandbox-{tag}"
        reasons = []
        for mount_root, point, fstype, _ in mounts:
            if fstype == "cgroup2" and "" in own:
                found = cls._try_v2(_cgroup_dir(mount_root, point, own[""]), name)
                if isinstance(found, Cgroups):
                    return found, ""
                reasons.append(found)
        v1 = {}
        for controller in ("memory", "pids"):
            for mount_root, point, fstype, opts in mounts:
                if fstype == "cgroup" and controller in opts and controller in own:
                    v1[controller] = _cgroup_dir(mount_root, point, own[controller])
                    break
        if len(v1) == 2:
            found = cls._try_v1(v1, name)
            if isinstance(found, Cgroups):
                return found, ""
            reasons.append(found)
        else:
            reasons.append("no cgroup v1 memory and pids hierarchies")
        return None, "; ".join(reasons)

    @classmethod
    def _try_v2(cls, own_dir: str, name: str) -> Cgroups | str:
        try:
            with open(f"{own_dir}/cgroup.controllers") as fh:
                available = set(fh.read().split())
            if not {"memory", "pids"} <= available:
                return f"cgroup v2 at {own_dir} has no memory/pids controllers"
            with open(f"{own_dir}/cgroup.subtree_control") as fh:
                enabled = set(fh.read().split())
            if not {"memory", "pids"} <= enabled:
                with open(f"{own_dir}/cgroup.subtree_control", "w") as fh:
                    fh.write("+memory +pids")
            owner = os.open(own_dir, os.O_RDONLY | os.O_DIRECTORY)
            cls._remove_stale(owner)
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=owner)
            parent = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=owner)
            _write(parent, "cgroup.subtree_control", "+memory +pids")
            return cls("v2", {"unified": parent}, {"unified": owner}, name)
        except OSError as exc:
            return f"cgroup v2 at {own_dir}: {exc.strerror or exc}"

    @classmethod
    def _try_v1(cls, dirs: dict[str, str], name: str) -> Cgroups | str:
        parents, owners = {}, {}
        try:
            for controller, own_dir in dirs.items():
                owners[controller] = os.open(own_dir, os.O_RDONLY | os.O_DIRECTORY)
                cls._remove_stale(owners[controller])
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=owners[controller])
                parents[controller] = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=owners[controller])
            return cls("v1", parents, owners, name)
        except OSError as exc:
            for fd in [*parents.values(), *owners.values()]:
                os.close(fd)
            return f"cgroup v1 {', '.join(dirs.values())}: {exc.strerror or exc}"

    @staticmethod
    def _remove_stale(owner: int) -> None:
        """Remove r1eval-sandbox-<block> groups left by grader processes that died without cleaning up."""
        for entry in os.listdir(owner):
            prefix = "r1eval-sandbox-"
            if entry.startswith(prefix) and entry[len(prefix):].isdigit() and block_is_free(int(entry[len(prefix):])):
                with contextlib.suppress(OSError):
                    fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY, dir_fd=owner)
                    try:
                        for child in os.listdir(fd):
                            if child.startswith("run-"):
                                _kill_members(fd, child)
                                with contextlib.suppress(OSError):
                                    os.rmdir(child, dir_fd=fd)
                    finally:
                        os.close(fd)
                    os.rmdir(entry, dir_fd=owner)

    def procs_files(self, slot: int) -> list[int]:
        """Write-only descriptors of the slot's groups' `cgroup.procs` (the groups are created on first use):
        each run's PID 1 writes itself into them before it forks anything (`join_run_cgroup`), so the
        groups hold a run's processes and nothing else."""
        run = f"run-{slot}"
        fds = []
        for parent in self.parents.values():
            with contextlib.suppress(FileExistsError):
                os.mkdir(run, 0o755, dir_fd=parent)
            fds.append(os.open(f"{run}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=parent))
        return fds

    def set_limits(self, slot: int, memory_bytes: int, pids_max: int) -> int:
        """Set the slot's caps for the next run; returns the OOM-kill count so far."""
        run = f"run-{slot}"
        if self.version == "v2":
            parent = self.parents["unified"]
            _write(parent, f"{run}/memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(parent, f"{run}/memory.swap.max", "0")
            _write(parent, f"{run}/pids.max", str(pids_max))
            return _read_int_field(parent, f"{run}/memory.events", "oom_kill")
        memory, pids = self.parents["memory"], self.parents["pids"]
        names = ["memory.limit_in_bytes"]
        if _exists_at(memory, f"{run}/memory.memsw.limit_in_bytes"):  # memory + swap: no swapping either
            names.append("memory.memsw.limit_in_bytes")
        try:
            for name in names:
                _write(memory, f"{run}/{name}", str(memory_bytes))
        except OSError:  # raising the limit: memsw must move first (it may never be below the limit)
            for name in reversed(names):
                _write(memory, f"{run}/{name}", str(memory_bytes))
        _write(pids, f"{run}/pids.max", str(pids_max))
        return _read_int_field(memory, f"{run}/memory.oom_control", "oom_kill")

    def oom_kills(self, slot: int) -> int:
        if self.version == "v2":
            return _read_int_field(self.parents["unified"], f"run-{slot}/memory.events", "oom_kill")
        return _read_int_field(self.parents["memory"], f"run-{slot}/memory.oom_control", "oom_kill")

    def remove(self, wait_s: float = 3.0) -> None:
        """Remove the run groups and the parent (when the fork server leaves): processes still in a run
        group are killed, and get `wait_s` seconds to go; a group that cannot be removed is removed by
        the next grader that starts (`_remove_stale`)."""
        import time

        for parent in self.parents.values():
            for entry in os.listdir(parent):
                if entry.startswith("run-"):
                    _kill_members(parent, entry)
        give_up = time.monotonic() + wait_s
        for controller, parent in self.parents.items():
            while True:
                left = []
                for entry in os.listdir(parent):
                    if entry.startswith("run-"):
                        try:
                            os.rmdir(entry, dir_fd=parent)
                        except OSError:
                            left.append(entry)
                if not left or time.monotonic() > give_up:
                    break
                time.sleep(0.05)
            os.close(parent)
            with contextlib.suppress(OSError):
                os.rmdir(self.name, dir_fd=self.owners[controller])
            os.close(self.owners[controller])


def _kill_members(parent: int, group: str) -> None:
    """SIGKILL every process left in a run group (only runs' processes ever join one)."""
    try:
        fd = os.open(f"{group}/cgroup.procs", os.O_RDONLY, dir_fd=parent)
    except OSError:
        return
    try:
        pids = os.read(fd, 1 << 20).split()
    finally:
        os.close(fd)
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _exists_at(dir_fd: int, path: str) -> bool:
    try:
        os.stat(path, dir_fd=dir_fd)
        return True
    except OSError:
        return False


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
            host.uid_block, host.lease_fd = lease_uid_block()
            host.cgroups, why = Cgroups.detect(host.uid_block)
            if host.cgroups is None:
                host.reasons.append(f"no per-run cgroup ({why}); memory and processes are capped per process "
                                    "(RLIMIT_AS) and per uid (RLIMIT_NPROC) only")
        else:
            host.reasons.append("not root: no per-run cgroup; memory and processes are capped per process "
                                "(RLIMIT_AS) and per run user namespace (RLIMIT_NPROC) only")
        stage = _staging_dir([*python_files()[0], *packages])
        build_root(stage, packages, rootless=host.level == "user-namespaces")
        if host.level == "namespaces":  # slot helpers create each run's namespaces and come back to these
            host.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for flag, name in ((CLONE_NEWNS, "mnt"), (CLONE_NEWNET, "net"), (CLONE_NEWIPC, "ipc"),
                               (CLONE_NEWUTS, "uts"), (CLONE_NEWPID, "pid")):
                host.home_namespaces[flag] = os.open(f"/proc/self/ns/{name}", os.O_RDONLY)
        pivot_into(stage)
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
        _check(libc().setns(fd, flag), "setns")


def mount_run_filesystems(tmp_mb: int, work_uid: int, work_gid: int) -> None:
    """In the program's process, still privileged inside the run's namespaces: private writable /tmp
    (with the program's working directory) and /dev/shm, a fresh /proc, hostname 'sandbox'. Each tmpfs
    holds at most TMP_INODES_PER_MB files per MB: the kernel frees a tmpfs's inodes when the run ends,
    and a million empty files took 1.8 s to free, past the run's time limit."""
    opts = f"size={tmp_mb}m,nr_inodes={max(1024, tmp_mb * TMP_INODES_PER_MB)},mode=1777"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
    os.mkdir(WORKDIR, 0o700)
    os.chown(WORKDIR, work_uid, work_gid)
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
    _check(lib.capset(ctypes.byref(header), data), "capset")


@dataclass
class Limits:
    """Per-process rlimits of a program or judge (hard = soft); cpu_s None: no CPU limit (the judge lives
    across runs; its callers' clocks bound it)."""

    cpu_s: int | None
    memory_mb: int
    file_mb: int
    nproc: int
    nofile: int

    def apply(self) -> None:
        import resource

        mem = self.memory_mb << 20
        cpu = resource.RLIM_INFINITY if self.cpu_s is None else self.cpu_s
        for which, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                             (resource.RLIMIT_STACK, min(mem, 256 << 20)), (resource.RLIMIT_FSIZE, self.file_mb << 20),
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
