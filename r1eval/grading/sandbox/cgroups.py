"""cgroups: per-run memory and process caps for the whole process tree of a run (v2, or the v1 memory
and pids hierarchies)."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field

from r1eval.grading.sandbox.uids import block_is_free


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
