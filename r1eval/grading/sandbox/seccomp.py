"""The seccomp filter every program and judge process loads: compiled to BPF once (libseccomp, through
ctypes) in the fork server, installed per process (`load_seccomp`)."""

from __future__ import annotations

import ctypes
import errno
import os

from r1eval.grading.sandbox.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    PR_SET_SECCOMP,
    SECCOMP_MODE_FILTER,
    SetupError,
    check,
    libc,
)

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
    check(libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp filter")
