"""The benchmark workloads, each defined once: an operator tree plus its hand-written twins.

Latencies are real ``time.sleep`` calls standing for model calls (``asyncio.sleep`` in the
``acall`` twins the asyncio contender awaits). Every leaf returns an int computed from its input,
so each workload has a closed-form expected result that every contender must reproduce.

The operator classes live at module level in this real file so the structural compiler can read
their ``forward`` source.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emberjit import Operator

__all__ = ["WIDTHS", "Chain", "Fanout", "Inc", "Leaf", "Nested", "SleepTotal", "Total",
           "Workload", "Wrap", "chain", "fanout", "nested", "wide", "width_point"]

#: Fan-out widths of the sweep plotted in docs/perf_fanout_width.png.
WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


# -- operators ---------------------------------------------------------------------------------

class Leaf(Operator[int, int]):
    """A model call stand-in: sleeps ``latency`` seconds, returns ``x + k``."""

    def __init__(self, latency: float, k: int) -> None:
        self.latency = latency
        self.k = k

    def forward(self, x: int) -> int:
        time.sleep(self.latency)
        return x + self.k

    async def acall(self, x: int) -> int:
        await asyncio.sleep(self.latency)
        return x + self.k


class Inc(Operator[int, int]):
    """A trivial operator: ``x + 1``, no latency."""

    def forward(self, x: int) -> int:
        return x + 1

    async def acall(self, x: int) -> int:
        return x + 1


class Total(Operator[list[int], int]):
    """A cheap aggregator: the sum of its inputs."""

    def forward(self, xs: list[int]) -> int:
        return sum(xs)


class SleepTotal(Operator[list[int], int]):
    """A judge stand-in: one model call (sleep) over all inputs, returns their sum."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def forward(self, xs: list[int]) -> int:
        time.sleep(self.latency)
        return sum(xs)

    async def acall(self, xs: list[int]) -> int:
        await asyncio.sleep(self.latency)
        return sum(xs)


class Fanout(Operator[int, int]):
    """``n`` members (``Leaf(latency, base + i)``) on the same input, then an aggregator."""

    def __init__(self, n: int, latency: float, base: int = 0) -> None:
        self.members = [Leaf(latency, base + i) for i in range(n)]
        self.total = Total()

    def forward(self, x: int) -> int:
        answers = [m(x) for m in self.members]
        return self.total(answers)


class Nested(Operator[int, int]):
    """Refine, then ``branches`` ensembles of ``members`` each, then a judge."""

    def __init__(self, latency: float, branches: int = 3, members: int = 5) -> None:
        self.refine = Leaf(latency, 1)
        self.branches = [Fanout(members, latency, base=b * members) for b in range(branches)]
        self.judge = SleepTotal(latency)

    def forward(self, x: int) -> int:
        refined = self.refine(x)
        outs = [b(refined) for b in self.branches]
        return self.judge(outs)


class Chain(Operator[int, int]):
    """``n`` trivial operators in sequence."""

    def __init__(self, n: int) -> None:
        self.steps = [Inc() for _ in range(n)]

    def forward(self, x: int) -> int:
        for step in self.steps:
            x = step(x)
        return x


class Wrap(Operator[int, int]):
    """The smallest composite operator: one trivial call (for cached-plan dispatch time)."""

    def __init__(self) -> None:
        self.inner = Inc()

    def forward(self, x: int) -> int:
        return self.inner(x)


# -- hand-written twins ------------------------------------------------------------------------

def _fanout_threads(op: Fanout, pool: ThreadPoolExecutor, x: int) -> int:
    futures = [pool.submit(m, x) for m in op.members]
    return op.total([f.result() for f in futures])


async def _fanout_async(op: Fanout, x: int, limit: int) -> int:
    gate = asyncio.Semaphore(limit)

    async def one(m: Leaf) -> int:
        async with gate:
            return await m.acall(x)

    answers = await asyncio.gather(*(one(m) for m in op.members))
    return op.total(list(answers))


def _fanout_dask(op: Fanout, x: int) -> Any:
    from dask import delayed

    answers = [delayed(m, pure=False)(x) for m in op.members]
    return delayed(op.total, pure=False)(answers)


def _nested_threads(op: Nested, pool: ThreadPoolExecutor, x: int) -> int:
    refined = op.refine(x)
    futures = [[pool.submit(m, refined) for m in b.members] for b in op.branches]
    outs = [b.total([f.result() for f in fs]) for b, fs in zip(op.branches, futures, strict=True)]
    return op.judge(outs)


async def _nested_async(op: Nested, x: int, limit: int) -> int:
    refined = await op.refine.acall(x)
    outs = await asyncio.gather(*(_fanout_async(b, refined, limit) for b in op.branches))
    return await op.judge.acall(list(outs))


def _nested_dask(op: Nested, x: int) -> Any:
    from dask import delayed

    refined = delayed(op.refine, pure=False)(x)
    outs = [_fanout_dask(b, refined) for b in op.branches]
    return delayed(op.judge, pure=False)(outs)


def _chain_threads(op: Chain, pool: ThreadPoolExecutor, x: int) -> int:
    for step in op.steps:
        x = pool.submit(step, x).result()
    return x


async def _chain_async(op: Chain, x: int, limit: int) -> int:
    del limit
    for step in op.steps:
        x = await step.acall(x)
    return x


def _chain_dask(op: Chain, x: int) -> Any:
    from dask import delayed

    value: Any = x
    for step in op.steps:
        value = delayed(step, pure=False)(value)
    return value


# -- workloads ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Workload:
    """One workload: how to build it, its input and expected result, and its hand-written twins.

    ``workers`` bounds concurrency for every contender (emberjit ``max_workers``, the executor's
    ``max_workers``, the asyncio semaphore, dask ``num_workers``). ``repeats`` timed runs follow
    one warm-up run; a run repeats the call until it takes at least ``min_sample`` seconds.
    """

    name: str
    description: str
    make: Callable[[], Operator[int, int]]
    expected: int
    threads: Callable[[Any, ThreadPoolExecutor, int], int]
    aio: Callable[[Any, int, int], Coroutine[Any, Any, int]]
    dask: Callable[[Any, int], Any]
    inputs: int = 1
    workers: int = 64
    repeats: int = 7
    min_sample: float = 0.0
    per_node: int = 0  # chain: nodes per call, to report the cost per node


def fanout(n: int = 10, latency: float = 0.05, repeats: int = 7) -> Workload:
    return Workload(
        name="fanout", description=f"{n} members x {latency * 1000:g} ms, then an aggregator",
        make=lambda: Fanout(n, latency), expected=n * 1 + n * (n - 1) // 2,
        threads=_fanout_threads, aio=_fanout_async, dask=_fanout_dask, repeats=repeats)


def width_point(width: int, latency: float = 0.01, repeats: int = 3) -> Workload:
    wl = fanout(width, latency, repeats)
    return dataclasses.replace(wl, name=f"width{width}")


def nested(latency: float = 0.05, branches: int = 3, members: int = 5,
           repeats: int = 7) -> Workload:
    total = branches * members
    return Workload(
        name="nested",
        description=(f"refine {latency * 1000:g} ms, {branches} branches x ensemble of {members} x "
                     f"{latency * 1000:g} ms, judge {latency * 1000:g} ms"),
        make=lambda: Nested(latency, branches, members),
        expected=total * 2 + total * (total - 1) // 2,  # input 1, refined 2
        threads=_nested_threads, aio=_nested_async, dask=_nested_dask, repeats=repeats)


def wide(n: int = 500, latency: float = 0.01, workers: int = 64, repeats: int = 5) -> Workload:
    wl = fanout(n, latency, repeats)
    return dataclasses.replace(
        wl, name="wide", workers=workers,
        description=f"{n} members x {latency * 1000:g} ms, {workers} workers")


def chain(n: int = 100, repeats: int = 15, min_sample: float = 0.005) -> Workload:
    return Workload(
        name="chain", description=f"{n} trivial operators in sequence",
        make=lambda: Chain(n), expected=1 + n, threads=_chain_threads, aio=_chain_async,
        dask=_chain_dask, repeats=repeats, min_sample=min_sample, per_node=n)
