"""Uid leases (root only): every grader process (fork server) holds one block of uids for its runs,
locked with flock on a file that lives as long as the lease; two graders never share a block."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets

from r1eval.grading.sandbox.syscalls import SetupError

UID_BASE, UID_BLOCK, UID_BLOCKS = 2_000_000_000, 512, 4096
MAX_SLOTS = UID_BLOCK // 2  # each run in flight uses two uids: the program's and the judge's
LEASE_DIRS = ("/run/r1eval-sandbox", "/dev/shm/r1eval-sandbox", "/tmp/r1eval-sandbox")


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
