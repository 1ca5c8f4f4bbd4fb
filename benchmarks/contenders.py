"""The contenders: every way of running a workload that the benchmark compares.

A contender turns a :class:`~benchmarks.workloads.Workload` into a :class:`Prepared` run: a
zero-argument ``call`` returning the workload's result, a ``context`` entered around each timed
sample (emberjit's ``execution_options``), and ``close`` to release pools and loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emberjit import execution_options, jit

from .workloads import Workload

__all__ = ["EAGER", "THREADS", "Contender", "Prepared", "all_contenders", "by_name",
           "dask_available"]

EAGER = "eager"
THREADS = "threads (hand-written)"


@dataclasses.dataclass
class Prepared:
    call: Callable[[], int]
    context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    close: Callable[[], None] = lambda: None


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    prepare: Callable[[Workload], Prepared]


def _eager(wl: Workload) -> Prepared:
    op, x = wl.make(), wl.inputs
    return Prepared(lambda: op(x))


def _emberjit(scheduler: str) -> Callable[[Workload], Prepared]:
    def prepare(wl: Workload) -> Prepared:
        fast, x = jit(wl.make(), mode="structural"), wl.inputs

        def context() -> contextlib.AbstractContextManager[Any]:
            return execution_options(scheduler=scheduler, max_workers=wl.workers)

        return Prepared(lambda: fast(x), context)

    return prepare


def _threads(wl: Workload) -> Prepared:
    op, x = wl.make(), wl.inputs
    pool = ThreadPoolExecutor(max_workers=wl.workers, thread_name_prefix="bench")
    return Prepared(lambda: wl.threads(op, pool, x), close=pool.shutdown)


def _asyncio(wl: Workload) -> Prepared:
    op, x = wl.make(), wl.inputs
    loop = asyncio.new_event_loop()
    return Prepared(lambda: loop.run_until_complete(wl.aio(op, x, wl.workers)), close=loop.close)


def _dask(wl: Workload) -> Prepared:
    import dask

    op, x = wl.make(), wl.inputs
    # our own pool (dask would otherwise cache one per size for the life of the process)
    pool = ThreadPoolExecutor(max_workers=wl.workers, thread_name_prefix="bench-dask")

    def call() -> int:
        (value,) = dask.compute(wl.dask(op, x), scheduler="threads", pool=pool)
        return int(value)

    return Prepared(call, close=pool.shutdown)


def dask_available() -> bool:
    return importlib.util.find_spec("dask") is not None


def all_contenders(include_dask: bool | None = None) -> list[Contender]:
    """Every contender; dask only when it is importable (or when asked explicitly)."""
    found = [
        Contender(EAGER, _eager),
        Contender("emberjit structural/sequential", _emberjit("sequential")),
        Contender("emberjit structural/threads", _emberjit("threads")),
        Contender("emberjit structural/auto", _emberjit("auto")),
        Contender(THREADS, _threads),
        Contender("asyncio (hand-written)", _asyncio),
    ]
    if include_dask if include_dask is not None else dask_available():
        found.append(Contender("dask.delayed threaded", _dask))
    return found


def by_name(*names: str) -> list[Contender]:
    known = {c.name: c for c in all_contenders()}
    return [known[n] for n in names]
