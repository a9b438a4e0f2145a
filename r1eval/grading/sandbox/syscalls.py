"""libc and Linux system calls the sandbox side uses: namespace, mount and prctl constants, thin
wrappers that raise OSError, and SetupError (stdlib and ctypes only)."""

from __future__ import annotations

import ctypes
import errno
import os

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


class SetupError(Exception):
    """The sandbox could not be built (the run is not executed)."""


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


def check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def syscall(name: str, *args) -> int:
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
    check(libc().mount(*args, flags, None if data is None else data.encode()), f"mount {fstype or source} on {target}")


def prctl(option: int, arg: int = 0) -> None:
    check(libc().prctl(option, arg, 0, 0, 0), f"prctl({option})")


def unshare(flags: int) -> None:
    check(libc().unshare(flags), "unshare")


def detach(target: str) -> None:
    """Unmount target (lazily) from this mount namespace."""
    check(libc().umount2(target.encode(), MNT_DETACH), f"detach {target}")
