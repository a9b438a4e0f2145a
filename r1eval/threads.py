"""`--threads`: CPU threads for local generation (torch intra-op and OpenMP).

torch starts one OpenMP thread per physical core. When the cores are shared (other jobs, CI, several
helpers on one box), spinning OpenMP threads wait for each other behind the other jobs and a run gets
several times slower than with one thread (measured: docs/faults.md). The default therefore leaves
one core free on small machines: 1 thread on 1-2 usable cores, else the usable cores minus one."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """The thread count used when --threads is not given."""
    cpus = usable_cpus()
    return 1 if cpus <= 2 else cpus - 1


def apply_threads(threads: int | None) -> int:
    """Set torch's and OpenMP's thread count (`threads`, or the default) and return it. OMP_NUM_THREADS
    set by the user wins over the default, and an engine process started later inherits it."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else default_threads()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads
