"""The thread pools emberjit shares, below everything that uses them (layer 0).

Model calls are I/O-bound, so pools are sized for waiting, not for cores
(:data:`DEFAULT_MAX_WORKERS`). :func:`off_loop_executor` runs sync operators and sync plans
off an event loop (the async scheduler, ``Operator.acall``); the thread scheduler's own pool,
which runs tasks with dependencies, is :mod:`emberjit.runtime.pool`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["DEFAULT_MAX_WORKERS", "off_loop_executor"]

#: workers of a pool when ``execution_options(max_workers=...)`` does not say
DEFAULT_MAX_WORKERS = 64

_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def off_loop_executor(max_workers: int | None) -> ThreadPoolExecutor:
    """The shared pool that runs sync operators off the event loop (64 threads by default:
    calls are I/O-bound, and asyncio's default executor has only ``cpu_count + 4``)."""
    size = max_workers or DEFAULT_MAX_WORKERS
    executor = _executors.get(size)
    if executor is None:
        with _executors_lock:
            executor = _executors.setdefault(
                size, ThreadPoolExecutor(size, thread_name_prefix="emberjit_async"))
    return executor
