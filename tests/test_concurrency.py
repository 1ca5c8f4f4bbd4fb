"""Concurrency: one jitted instance from 64 threads at once, several instances of one class, and
recompiles triggered mid-run by another thread. Every answer right, compiles and stats exact."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emberjit import Operator, execution_options, get_jit_stats, jit


class Add(Operator[int, int]):
    def __init__(self, k: int) -> None:
        self.k = k

    def forward(self, x: int) -> int:
        return x + self.k


class Mul(Operator[int, int]):
    def __init__(self, k: int) -> None:
        self.k = k

    def forward(self, x: int) -> int:
        return x * self.k


class Sum(Operator[list[int], int]):
    def forward(self, xs: list[int]) -> int:
        return sum(xs)


class Ensemble(Operator[int, int]):
    def __init__(self, offset: int = 0) -> None:
        self.first: Operator[int, int] = Add(offset)
        self.members = [Add(k) for k in range(4)]
        self.judge = Sum()

    def forward(self, x: int) -> int:
        y = self.first(x)
        ys = [m(y) for m in self.members]
        return self.judge(ys)


class Ensemble2(Ensemble):
    """Own class: own plan-cache entry, so compile counts do not depend on test order."""


class Ensemble3(Ensemble):
    pass


class Ensemble4(Ensemble):
    pass


def plus_zero(x: int) -> int:
    return x


def expected(x: int, offset: int = 0) -> int:
    y = x + offset
    return sum(y + k for k in range(4))


def hammer(threads: int, calls: int, work: Callable[[int, int], None]) -> None:
    """``work(thread, i)`` from ``threads`` threads started together; re-raises any failure."""
    start = threading.Barrier(threads)

    def body(t: int) -> None:
        start.wait()
        for i in range(calls):
            work(t, i)

    with ThreadPoolExecutor(threads) as ex:
        for future in [ex.submit(body, t) for t in range(threads)]:
            future.result()


def test_one_instance_from_64_threads() -> None:
    fast = jit(Ensemble2(), mode="structural")
    assert fast(-1) == expected(-1)  # compiled before the threads start (see docs/reliability.md)
    wrong: list[tuple[int, Any]] = []

    def work(t: int, i: int) -> None:
        x = t * 1000 + i
        with execution_options(scheduler="threads" if i % 2 else "sequential"):
            got = fast(x)
        if got != expected(x):
            wrong.append((x, got))

    hammer(64, 100, work)
    assert wrong == []
    stats = get_jit_stats(fast)
    assert stats.compiles == 1
    assert stats.calls == 6401
    assert stats.cache_hits == 6400
    assert stats.cache_misses == 1
    assert stats.guard_failures == 0


def test_several_instances_of_one_class_share_one_compile() -> None:
    instances = [jit(Ensemble3(offset), mode="structural") for offset in range(8)]
    for offset, op in enumerate(instances):  # first calls one at a time (docs/reliability.md)
        assert op(1) == expected(1, offset)
    wrong: list[tuple[int, int, Any]] = []

    def work(t: int, i: int) -> None:
        offset = (t + i) % 8
        got = instances[offset](i)
        if got != expected(i, offset):
            wrong.append((offset, i, got))

    with execution_options(scheduler="threads"):
        hammer(16, 50, work)
    assert wrong == []
    stats = [get_jit_stats(op) for op in instances]
    assert sum(s.calls for s in stats) == 16 * 50 + 8
    # one plan per class and structure: the first instance compiles, the rest reuse the cache
    assert sum(s.compiles for s in stats) == 1
    assert sum(s.cache_misses for s in stats) == 1


def test_recompiles_triggered_mid_run() -> None:
    op = Ensemble4()
    fast = jit(op, mode="structural")
    assert fast(1) == expected(1)
    swaps = 6
    done = threading.Event()
    wrong: list[tuple[int, Any]] = []

    def swapper() -> None:
        for n in range(swaps):
            # same answer; an operator of another type, or a plain function (the plan changes)
            op.first = (Mul(1), plus_zero, Add(0))[n % 3]  # type: ignore[assignment]
            threading.Event().wait(0.01)
        done.set()

    def work(t: int, i: int) -> None:
        got = fast(i)
        if got != expected(i):
            wrong.append((i, got))

    thread = threading.Thread(target=swapper)
    with execution_options(scheduler="threads"):
        thread.start()
        hammer(8, 60, work)
        thread.join()
        assert done.is_set()
        assert fast(5) == expected(5)
    assert wrong == []
    stats = get_jit_stats(fast)
    assert stats.calls == 8 * 60 + 2
    assert 1 <= stats.guard_failures <= swaps
    assert 1 <= stats.compiles <= 2  # swapping back finds the first plan in the cache
    assert stats.fallbacks == []
