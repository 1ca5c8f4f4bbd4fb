"""Faults: members raising at random positions, hanging past the timeout, interrupts, a failing
branch while others run, and 1,000 failures in a row. After each: the exception eager raises
(first in program order), no threads beyond the pool, no pending call, and the next call works."""

from __future__ import annotations

import gc
import random
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from emberjit import Operator, execution_options, jit
from emberjit.errors import ExecutionTimeoutError
from emberjit.runtime import get_pool

WORKERS = 8


class Member(Operator[int, int]):
    def __init__(self, k: int) -> None:
        self.k = k
        self.fail = False
        self.ran = 0

    def forward(self, x: int) -> int:
        self.ran += 1
        if self.fail:
            raise ValueError(f"member {self.k} failed on {x}")
        return x * 10 + self.k


class Fan(Operator[int, int]):
    def __init__(self, n: int) -> None:
        self.members = [Member(k) for k in range(n)]

    def forward(self, x: int) -> int:
        ys = [m(x) for m in self.members]
        return sum(ys)


class Hang(Operator[int, int]):
    def __init__(self) -> None:
        self.release = threading.Event()

    def forward(self, x: int) -> int:
        self.release.wait(5.0)
        return x


class WithHang(Operator[int, int]):
    def __init__(self) -> None:
        self.members: list[Operator[int, int]] = [Member(0), Hang(), Member(2)]

    def forward(self, x: int) -> int:
        ys = [m(x) for m in self.members]
        return sum(ys)


class Slow(Operator[int, int]):
    def __init__(self) -> None:
        self.finished = 0

    def forward(self, x: int) -> int:
        time.sleep(0.05)
        self.finished += 1
        return x + 1


class Interrupt(Operator[int, int]):
    def __init__(self) -> None:
        self.armed = True

    def forward(self, x: int) -> int:
        if self.armed:
            raise KeyboardInterrupt
        return x


class Branches(Operator[int, int]):
    def __init__(self) -> None:
        self.slow = Slow()
        self.bad = Member(7)
        self.other = Slow()

    def forward(self, x: int) -> int:
        a = self.slow(x)
        b = self.bad(x)
        c = self.other(x)
        return a + b + c


class Interrupted(Operator[int, int]):
    def __init__(self) -> None:
        self.members: list[Operator[int, int]] = [Slow(), Interrupt(), Slow(), Slow()]

    def forward(self, x: int) -> int:
        ys = [m(x) for m in self.members]
        return sum(ys)


@pytest.fixture(autouse=True)
def threads_before() -> Iterator[None]:
    """The thread count when the test starts: a test may add at most its pool's threads."""
    global BEFORE
    BEFORE = threading.active_count()
    yield


BEFORE = 0


def assert_settled(fast: Any) -> None:
    assert threading.active_count() <= BEFORE + WORKERS
    assert get_pool(WORKERS).thread_count() <= WORKERS


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_members_raising_at_random_positions(scheduler: str) -> None:
    rng = random.Random(7)
    op = Fan(12)
    fast = jit(op, mode="structural")
    with execution_options(scheduler=scheduler, max_workers=WORKERS):
        for _ in range(40):
            failing = sorted(rng.sample(range(12), rng.randint(1, 4)))
            for i, m in enumerate(op.members):
                m.fail = i in failing
            with pytest.raises(ValueError) as info:
                fast(3)
            assert str(info.value) == f"member {failing[0]} failed on 3"  # first in order
            assert f"Fan.members[{failing[0]}] (Member)" in "".join(info.value.__notes__)
            for m in op.members:
                m.fail = False
            assert fast(3) == op(3) == sum(30 + k for k in range(12))
            assert_settled(fast)


def test_hang_past_timeout_names_operator_and_timeout() -> None:
    op = WithHang()
    hang = op.members[1]
    assert isinstance(hang, Hang)
    fast = jit(op, mode="structural")
    start = time.perf_counter()
    with execution_options(scheduler="threads", max_workers=WORKERS, timeout=0.2), \
            pytest.raises(ExecutionTimeoutError) as info:
        fast(1)
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert "WithHang.members[1] (Hang)" in message and "timeout=0.2" in message
    assert isinstance(info.value, TimeoutError)
    assert_settled(fast)
    hang.release.set()
    with execution_options(scheduler="threads", max_workers=WORKERS, timeout=2.0):
        assert fast(1) == 10 + 1 + 12


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_failing_branch_while_others_run(scheduler: str) -> None:
    op = Branches()
    op.bad.fail = True
    fast = jit(op, mode="structural")
    with execution_options(scheduler=scheduler, max_workers=WORKERS), \
            pytest.raises(ValueError, match="member 7 failed on 4"):
        fast(4)
    # eager never starts self.other (it comes after the failure); a plan may have started it
    # already, but it must have finished (no orphaned work) by the time the error surfaces
    assert op.slow.finished == 1
    assert op.other.finished in (0, 1)
    finished = op.other.finished
    time.sleep(0.1)
    assert op.other.finished == finished
    op.bad.fail = False
    with execution_options(scheduler=scheduler, max_workers=WORKERS):
        assert fast(4) == 5 + 47 + 5
    assert_settled(fast)


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_keyboard_interrupt_in_fan_out_propagates(scheduler: str) -> None:
    op = Interrupted()
    fast = jit(op, mode="structural")
    with execution_options(scheduler=scheduler, max_workers=WORKERS):
        with pytest.raises(KeyboardInterrupt):
            fast(1)
        assert_settled(fast)
        interrupt = op.members[1]
        assert isinstance(interrupt, Interrupt)
        interrupt.armed = False
        assert fast(1) == 2 + 1 + 2 + 2


def test_thousand_failures_leave_threads_and_memory_flat() -> None:
    op = Fan(6)
    op.members[4].fail = True
    fast = jit(op, mode="structural")

    def fail_many(n: int) -> None:
        for _ in range(n):
            try:
                fast(2)
            except ValueError:
                pass
            else:
                raise AssertionError("the call should have failed")

    with execution_options(scheduler="threads", max_workers=WORKERS):
        fail_many(100)  # warm up: pool threads, plan, caches
        gc.collect()
        threads_before = threading.active_count()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            fail_many(1000)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert threading.active_count() <= threads_before + 1
        assert grown < 512 * 1024, f"memory grew by {grown} bytes over 1,000 failing calls"
        op.members[4].fail = False
        assert fast(2) == sum(20 + k for k in range(6))
    assert_settled(fast)
