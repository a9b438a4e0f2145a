"""The sandbox's read-only root filesystem: built once in the fork server (`build_root`, `pivot_into`),
copied into each run's mount namespace."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import stat
import sys
import sysconfig

from r1eval.grading.sandbox.syscalls import (
    AT_RECURSIVE,
    MNT_DETACH,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    SetupError,
    check,
    libc,
    mount,
    syscall,
)

WORKDIR = "/tmp/work"
SITE_DIR = "/opt/r1eval-sandbox/site-packages"  # allowlisted third-party packages, read-only
# Directories of the host bound read-only into every sandbox (symlinks such as /bin -> usr/bin are copied).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "nsswitch.conf")
# the toolchains' configuration (Java reads its security and logging properties there, mono its config)
ETC_TOOLCHAIN_GLOBS = ("java-*-openjdk", "mono", "php")
DEV_NODES = ("null", "zero", "full", "random", "urandom")
ETC_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
ETC_GROUP = "root:x:0:\nnogroup:x:65534:\n"
ETC_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"


def make_read_only(target: str) -> None:
    """Read-only, nosuid, nodev for a mount and everything below it (device nodes are bound separately)."""
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    ret = syscall("mount_setattr", -100, target.encode(), AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))
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


def bind_read_only(source: str, target: str, *, keep_devices: bool = False) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if keep_devices:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    else:
        make_read_only(target)


def python_files() -> tuple[list[str], list[str]]:
    """(paths to bind, site-packages directories to mask): the interpreter, its standard library and the
    shared libraries it has loaded, minus every site-packages directory (third-party code and data, such
    as benchmark files shipped inside packages, stays out; allowlisted packages are bound separately)."""
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
            bind_read_only(host, f"{stage}/{name}")
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
        bind_read_only(path, target)
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
        bind_read_only(path, target)
    etc = _mkdirs(stage, "/etc")
    for name, text in (("passwd", ETC_PASSWD), ("group", ETC_GROUP), ("hosts", ETC_HOSTS), ("hostname", "sandbox\n")):
        with open(f"{etc}/{name}", "w") as fh:
            fh.write(text)
    toolchains = sorted({os.path.basename(p) for g in ETC_TOOLCHAIN_GLOBS for p in glob.glob(f"/etc/{g}")})
    for name in (*ETC_FILES, *toolchains):
        host = os.path.realpath(f"/etc/{name}")
        if not os.path.exists(host):
            continue
        if os.path.isdir(host):
            os.mkdir(f"{etc}/{name}", 0o755)
        else:
            _touch(f"{etc}/{name}")
        bind_read_only(host, f"{etc}/{name}")
    dev = _mkdirs(stage, "/dev")
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}") and stat.S_ISCHR(os.stat(f"/dev/{name}").st_mode):
            _touch(f"{dev}/{name}")
            bind_read_only(f"/dev/{name}", f"{dev}/{name}", keep_devices=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o755)
    os.mkdir(f"{stage}/tmp", 0o755)
    os.mkdir(f"{stage}/proc", 0o555)
    if rootless:  # a user namespace may mount a fresh /proc only where a full one is already visible
        mount("/proc", f"{stage}/proc", None, MS_BIND | MS_REC)
    mount(None, stage, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,mode=0755")


def pivot_into(stage: str) -> None:
    """Make `stage` this mount namespace's root and drop the host's tree from it."""
    os.chdir(stage)
    check(syscall("pivot_root", b".", b"."), "pivot_root")
    check(libc().umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def staging_dir(sources: list[str]) -> str:
    for candidate in ("/mnt", "/media", "/srv", "/tmp", "/opt", "/var"):
        if os.path.isdir(candidate) and not any(_under(s, [candidate]) for s in sources):
            return candidate
    raise SetupError("no directory to build the sandbox root on")
