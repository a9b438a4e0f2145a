"""r1eval.workers: thread and process maps keep input order; one item or one worker stays in this thread."""

from __future__ import annotations

import os
import threading

from r1eval.workers import chunks, process_pool, thread_map


def test_thread_map_keeps_order_and_uses_threads_only_when_useful() -> None:
    main = threading.get_ident()
    assert thread_map(lambda x: x * x, range(20), workers=4) == [x * x for x in range(20)]
    assert thread_map(lambda _: threading.get_ident(), [1]) == [main]
    assert thread_map(lambda _: threading.get_ident(), [1, 2, 3], workers=1) == [main] * 3
    assert set(thread_map(lambda _: threading.get_ident(), range(8), workers=2)) != {main}
    assert thread_map(lambda x: x, []) == []


def test_chunks_cover_the_items_in_order() -> None:
    items = list(range(37))
    parts = chunks(items, workers=3)
    assert [x for part in parts for x in part] == items and len(parts) >= 3
    assert chunks([1], workers=8) == [[1]]


def test_process_pool_runs_in_other_processes() -> None:
    with process_pool(2) as pool:
        pids = [pool.submit(os.getpid).result() for _ in range(4)]
    assert os.getpid() not in pids
