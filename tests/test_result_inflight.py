"""Identical calls in flight (issue 16; emberjit/cache/inflight.py): the caller that ran the call
may change its result at once without changing what the callers that waited for it get, a caller
that is cancelled does not cancel the callers that waited for it, and a result that cannot be
copied leaves each caller to run the call on its own."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

from emberjit import Operator, execution_options
from emberjit.cache.inflight import flights


class SlowToCopy:
    """Copying it takes a while: long enough for the caller that ran the call to change its
    result while a waiting caller is still copying it."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SlowToCopy:
        time.sleep(0.2)
        return SlowToCopy()


class Counter:
    """Counts runs without being part of the calls' keys."""

    def __init__(self) -> None:
        self.n = 0

    def __emberjit_cache_key__(self) -> str:
        return "a counter"


class Make(Operator[str, list[Any]]):
    def __init__(self) -> None:
        self.runs = Counter()

    def forward(self, inputs: str) -> list[Any]:
        self.runs.n += 1
        time.sleep(0.1)
        return [SlowToCopy(), f"made from {inputs}"]


class Wait(Operator[str, str]):
    def __init__(self) -> None:
        self.started = Counter()

    async def forward(self, inputs: str) -> str:
        self.started.n += 1
        await asyncio.sleep(0.2)
        return f"waited for {inputs}"


def test_the_first_caller_changing_its_result_does_not_reach_the_others() -> None:
    op = Make()
    seen: list[str] = []
    barrier = threading.Barrier(2)

    def caller(i: int) -> None:
        barrier.wait()
        result = op("x")
        seen.append(result[1])
        result[1] = f"changed by caller {i}"  # right away, as callers do

    with execution_options(cache=True):
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(caller, i))
                   for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    assert op.runs.n == 1  # merged
    assert seen == ["made from x"] * 2


def test_a_cancelled_first_caller_leaves_the_waiting_callers_their_answer() -> None:
    op = Wait()

    async def main() -> str:
        with execution_options(cache=True):
            first = asyncio.create_task(op.acall("q"))
            await asyncio.sleep(0.05)  # the first caller's call is in flight
            second = asyncio.create_task(op.acall("q"))
            await asyncio.sleep(0.05)  # the second caller waits for it
            first.cancel()  # a timeout of the first caller's, say
            return await second

    assert asyncio.run(main()) == "waited for q"
    assert op.started.n == 2  # the waiting caller ran the call again
    assert len(flights) == 0


def test_a_cancelled_waiter_leaves_the_first_caller_its_answer() -> None:
    op = Wait()

    async def main() -> str:
        with execution_options(cache=True):
            first = asyncio.create_task(op.acall("r"))
            await asyncio.sleep(0.05)
            second = asyncio.create_task(op.acall("r"))
            await asyncio.sleep(0.05)
            second.cancel()
            return await first

    assert asyncio.run(main()) == "waited for r"
    assert op.started.n == 1 and len(flights) == 0


class Guarded(Operator[str, dict[str, Any]]):
    def __init__(self) -> None:
        self.runs = Counter()

    def forward(self, inputs: str) -> dict[str, Any]:
        self.runs.n += 1
        time.sleep(0.1)
        return {"text": inputs, "lock": threading.Lock()}  # no copy of it can be made


def test_a_result_that_cannot_be_copied_is_made_for_each_caller() -> None:
    op = Guarded()
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def caller() -> None:
        barrier.wait()
        results.append(op("x"))

    with execution_options(cache=True):
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(caller,))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    assert [r["text"] for r in results] == ["x"] * 3
    assert len({id(r["lock"]) for r in results}) == 3 and op.runs.n == 3
