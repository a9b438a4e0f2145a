"""The one way r1eval spreads work over workers: threads for work that waits on subprocesses (sandboxed
programs), processes for CPU-bound Python (math-verify), both in input order."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """One worker per CPU core."""
    return os.cpu_count() or 1


def thread_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """`[fn(x) for x in items]` over up to `workers` threads (default one per core); in the calling thread
    when there is one item or one worker."""
    items = list(items)
    workers = min(workers or default_workers(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def process_pool(workers: int, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """`workers` processes forked from a forkserver that has imported `preload` once, so workers start fast
    and never inherit the parent's threads (torch's, a progress bar's)."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    if preload:
        ctx.set_forkserver_preload(list(preload))
    # Ctrl-C in a terminal reaches the workers too: the parent alone handles it (no worker tracebacks)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=signal.signal,
                               initargs=(signal.SIGINT, signal.SIG_IGN))


def chunks(items: Sequence[Any], workers: int, per_worker: int = 4) -> list[Sequence[Any]]:
    """`items` cut into about `workers * per_worker` consecutive chunks (for a process pool's map)."""
    size = max(1, len(items) // (workers * per_worker))
    return [items[i : i + size] for i in range(0, len(items), size)]
