"""The fork server (sandbox side; stdlib only), and the picture of its slot helpers and spawners (`slots.py`)
and each run's processes (`runs.py`).

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
import gc
import json
import os
import select
import signal
import socket
import sys
import time

from r1eval.grading.sandbox import confinement, rootfs, uids, wire
from r1eval.grading.sandbox.runs import receive
from r1eval.grading.sandbox.slots import start_helper

# modules imported once, so that programs start with them warm (LiveCodeBench's preamble and more);
# kept short because every process of every run is a copy of this server
PRELOAD = ("string re datetime collections heapq bisect copy math random statistics itertools functools "
           "operator io json typing decimal fractions array traceback resource dataclasses enum abc "
           "numbers struct copyreg weakref contextlib reprlib keyword base64 select socket _sitebuiltins")
PROBE = ("import os\nassert os.getuid() != 0 or os.getpid() != 1\ndef f(x):\n    return x + 1\n",
         "assert f(1) == 2\n")


# ----------------------------------------------------------------------------------------------
# The server


def _self_test(host: confinement.Host) -> str | None:
    """Run one check run through the whole path (the last slot is reserved for it); why it failed, or None."""
    helper = None
    try:
        helper = start_helper(host, uids.MAX_SLOTS - 1)
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
    sys.path[:] = list(dict.fromkeys([*paths, *dynload, rootfs.SITE_DIR]))
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
        info["uids"] = [uids.run_uids(host.uid_block, 0)[0], uids.run_uids(host.uid_block + 1, 0)[0]]
    reply = json.dumps(info).encode()
    try:
        while (received := receive(sock, 256)) is not None:
            msg, fds = received
            for fd in fds:
                os.close(fd)
            if msg == b"probe":
                sock.send(reply)
            elif msg.startswith(b"helper ") and msg[7:].isdigit() and int(msg[7:]) < uids.MAX_SLOTS - 1:
                helper = start_helper(host, int(msg[7:]))
                socket.send_fds(sock, [b"helper"], [helper.fileno()])
                helper.close()
            else:
                sock.send(b"?")
    finally:
        if host.cgroups:  # the helpers leave when the harness closes their sockets (or dies)
            host.cgroups.remove()
