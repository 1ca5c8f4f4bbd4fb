"""The thread pools emberjit shares, below everything that uses them (layer 0).

Model calls are I/O-bound, so pools are sized for waiting, not for cores
(:data:`DEFAULT_MAX_WORKERS`). :func:`off_loop_executor` runs sync operators and sync plans
off an event loop (the async scheduler, ``Operator.acall``); :func:`map_executor` runs the
inputs of one batch; :func:`helper_thread` runs a private event loop away from a running one.
The thread scheduler's own pool, which runs tasks with dependencies, is
:mod:`emberjit.runtime.pool`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["DEFAULT_MAX_WORKERS", "helper_thread", "map_executor", "off_loop_executor"]

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


def map_executor(workers: int) -> ThreadPoolExecutor:
    """A pool of its own for one batch (``vmap``/``Operator.map``): ``workers`` threads, the
    batch's ``max_concurrency``, each running one input at a time. Its own, not a shared one:
    an input blocks its thread until the input's whole plan returns, and that plan may map a
    batch again; in a shared bounded pool, nested batches would wait for threads their own
    callers hold (a deadlock). The caller shuts it down (``with map_executor(n) as pool:``)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="emberjit-map")


def helper_thread() -> ThreadPoolExecutor:
    """One new thread, for one call that must not run on this one: a private event loop
    started inside a running loop's own code (``Operator.__call__`` of an ``async def
    forward``). Not shared: the caller blocks until it returns and such loops nest, so a
    bounded shared pool would run out of threads. The caller shuts it down."""
    return ThreadPoolExecutor(1, thread_name_prefix="emberjit_private_loop")
