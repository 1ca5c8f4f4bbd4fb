"""The async scheduler: ``acall``, ``async def forward``, the plan's async variant, failures and
cancellation with eager's choice of exception, ``max_concurrency`` on every local scheduler."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import fixtures
from emberjit import Operator, execution_options, jit
from emberjit.compiler.async_plan import async_source
from emberjit.errors import AsyncContextError
from emberjit.models import SimulatedModel

NAMES = fixtures.module_names()


def _outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("value", fn())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


@pytest.mark.parametrize("name", NAMES)
def test_fixtures_async_equals_eager(name: str) -> None:
    module = importlib.import_module(f"fixtures.{name}")
    inputs = list(module.inputs()) if hasattr(module, "inputs") else list(module.INPUTS)
    eager_op = module.build(0.0)
    want = [_outcome(lambda x=x: eager_op(x)) for x in inputs]
    jitted_op = module.build(0.0)
    fast = jit(jitted_op, mode="structural")

    async def all_inputs() -> list[tuple[Any, ...]]:
        got = []
        for x in inputs:
            try:
                got.append(("value", await fast.acall(x)))
            except Exception as exc:
                got.append(("raised", type(exc), str(exc)))
        return got

    assert asyncio.run(all_inputs()) == want
    if hasattr(eager_op, "log"):  # the impure fixture: its log in eager's order
        assert eager_op.log and jitted_op.log == eager_op.log
    # a sync call under scheduler="async": the async plan on a private loop (fresh operators:
    # some fixtures count their calls)
    eager_op, fast = module.build(0.0), jit(module.build(0.0), mode="structural")
    want = [_outcome(lambda x=x: eager_op(x)) for x in inputs[:5]]
    with execution_options(scheduler="async"):
        assert [_outcome(lambda x=x: fast(x)) for x in inputs[:5]] == want


# -- operators used below ----------------------------------------------------------------------

class AsyncAnswer(Operator[dict[str, Any], str]):
    """A leaf with ``async def forward``: awaits the model's async client."""

    def __init__(self, model: SimulatedModel, i: int, fail: bool = False) -> None:
        self.model, self.i, self.fail = model, i, fail
        self.cancelled = False
        self.finished = False

    async def forward(self, inputs: dict[str, Any]) -> str:
        try:
            reply = await self.model.acall(f"{inputs['query']} #{self.i}")
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fail:
            raise ValueError(f"member {self.i} failed")
        self.finished = True
        return reply


class Tracked(Operator[dict[str, Any], str]):
    """A sync leaf that records its thread and the peak number of calls in flight."""

    lock = threading.Lock()
    active = 0
    peak = 0

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.thread: str | None = None

    def forward(self, inputs: dict[str, Any]) -> str:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            self.thread = threading.current_thread().name
            time.sleep(self.latency)
            return str(inputs["query"])
        finally:
            with cls.lock:
                cls.active -= 1

    @classmethod
    def reset(cls) -> None:
        cls.active = cls.peak = 0


class Fan(Operator[dict[str, Any], list[str]]):
    def __init__(self, members: list[Operator[Any, Any]]) -> None:
        self.members = members

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        return [m(inputs) for m in self.members]


X = {"query": "q"}


def _async_fan(n: int, latency: float, failing: tuple[int, ...] = (),
               slow: dict[int, float] | None = None) -> Fan:
    members: list[Operator[Any, Any]] = []
    for i in range(n):
        lat = (slow or {}).get(i, latency)
        members.append(AsyncAnswer(SimulatedModel(latency=lat), i, fail=i in failing))
    return Fan(members)


# -- async operators and acall -----------------------------------------------------------------

def test_async_plan_source_awaits_waits_and_keeps_submit_sync() -> None:
    fast = jit(_async_fan(3, 0.0), mode="structural")
    source = async_source(fast.plan)
    assert source is not None and "async def Fan__forward__async" in source
    assert "run.submit(m, inputs)" in source and "await run.submit" not in source


def test_acall_runs_async_members_concurrently_on_one_thread() -> None:
    op = _async_fan(50, 0.05)
    fast = jit(op, mode="structural")
    want = Fan(op.members)(X)  # eager: one private loop, members one after another
    before = threading.active_count()
    start = time.perf_counter()
    got = asyncio.run(fast.acall(X))
    elapsed = time.perf_counter() - start
    assert got == want
    assert elapsed < 0.5, elapsed  # 50 x 50 ms awaited together, not 2.5 s
    assert threading.active_count() <= before + 1  # no thread per call


def test_async_operator_called_sync_runs_on_private_loops_in_threads() -> None:
    op = _async_fan(10, 0.05)
    fast = jit(op, mode="structural")
    with execution_options(scheduler="threads"):
        start = time.perf_counter()
        got = fast(X)
        elapsed = time.perf_counter() - start
    assert got == [m.model.respond(f"q #{m.i}") for m in op.members]
    assert elapsed < 0.35, elapsed  # each worker's loop runs on its own: they overlap


def test_sync_members_run_off_the_loop() -> None:
    members = [Tracked(0.05) for _ in range(10)]
    fast = jit(Fan(list(members)), mode="structural")

    async def main() -> tuple[list[str], str]:
        await fast.acall(X)  # compiles the plan and its async variant: not what is timed
        start = time.perf_counter()
        result = await fast.acall(X)
        assert time.perf_counter() - start < 0.35  # 10 x 50 ms, off the loop, at once
        return result, threading.current_thread().name

    result, loop_thread = asyncio.run(main())
    assert result == ["q"] * 10
    assert all(m.thread and m.thread != loop_thread for m in members)


def test_sync_call_inside_running_loop_points_to_acall() -> None:
    fast = jit(_async_fan(2, 0.0), mode="structural")
    leaf = AsyncAnswer(SimulatedModel(latency=0), 0)

    async def main() -> None:
        with pytest.raises(AsyncContextError, match=r"await jitted\.acall"):
            fast(X)
        with pytest.raises(AsyncContextError, match=r"AsyncAnswer\.acall"):
            leaf(X)
        assert await leaf.acall(X) == leaf.model.respond("q #0")

    asyncio.run(main())


def test_jitted_function_acall() -> None:
    members = [AsyncAnswer(SimulatedModel(latency=0.02), i) for i in range(4)]

    def pipeline(x: dict[str, Any]) -> list[str]:
        return [m(x) for m in members]

    fast = jit(pipeline, mode="structural")
    assert asyncio.run(fast.acall(X)) == [m.model.respond(f"q #{m.i}") for m in members]


def test_class_decorated_instance_acall() -> None:
    @jit(mode="structural")
    class Pair(Operator[dict[str, Any], list[str]]):
        def __init__(self) -> None:
            self.a = AsyncAnswer(SimulatedModel(latency=0.05), 1)
            self.b = AsyncAnswer(SimulatedModel(latency=0.05), 2)

        def forward(self, inputs: dict[str, Any]) -> list[str]:
            return [self.a(inputs), self.b(inputs)]

    pair = Pair()
    asyncio.run(pair.acall(X))  # the first call compiles (its cost is not what this measures)
    start = time.perf_counter()
    got = asyncio.run(pair.acall(X))
    assert time.perf_counter() - start < 0.3
    assert got == [pair.a.model.respond("q #1"), pair.b.model.respond("q #2")]


def test_async_composite_forward_runs_as_written() -> None:
    class Gather(Operator[dict[str, Any], list[str]]):
        def __init__(self) -> None:
            self.members = [AsyncAnswer(SimulatedModel(latency=0.05), i) for i in range(5)]

        async def forward(self, inputs: dict[str, Any]) -> list[str]:
            return list(await asyncio.gather(*(m.acall(inputs) for m in self.members)))

    op = Gather()
    fast = jit(op)
    want = [m.model.respond(f"q #{m.i}") for m in op.members]
    assert asyncio.run(fast.acall(X)) == want
    assert fast(X) == want
    assert "async def" in " ".join(fast._emberjit_state.spec.reasons)


# -- failures and cancellation -----------------------------------------------------------------

def test_first_failure_in_program_order_and_siblings_cancelled() -> None:
    # member 6 fails first in time, member 2 later; eager raises member 2's error
    op = _async_fan(10, 0.2, failing=(2, 6), slow={2: 0.1, 6: 0.01, 9: 5.0})
    fast = jit(op, mode="structural")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="member 2 failed") as info:
        asyncio.run(fast.acall(X))
    assert time.perf_counter() - start < 2.0  # the 5 s member was cancelled, not waited for
    assert any("Fan.members[2] (AsyncAnswer)" in n for n in info.value.__notes__)
    assert op.members[9].cancelled and not op.members[9].finished
    assert op.members[0].finished and op.members[1].finished  # earlier calls ran, as eager's


def test_cancelling_acall_cancels_every_call() -> None:
    op = _async_fan(5, 5.0)
    fast = jit(op, mode="structural")

    async def main() -> set[asyncio.Task[Any]]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fast.acall(X), 0.1)
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    start = time.perf_counter()
    assert asyncio.run(main()) == set()
    assert time.perf_counter() - start < 2.0
    assert all(m.cancelled for m in op.members)


def test_timeout_option_names_the_call() -> None:
    op = _async_fan(3, 0.01, slow={1: 5.0})
    fast = jit(op, mode="structural")
    from emberjit.errors import ExecutionTimeoutError

    with execution_options(timeout=0.2), pytest.raises(ExecutionTimeoutError,
                                                       match=r"members\[1\]"):
        asyncio.run(fast.acall(X))


class _Sleep(Operator[Any, Any]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def forward(self, inputs: Any) -> Any:
        await asyncio.sleep(self.seconds)
        return inputs


class _Pair(Operator[Any, Any]):
    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b

    def forward(self, inputs: Any) -> Any:
        return [self.a(inputs), self.b(inputs)]


class _Tight(Operator[Any, Any]):
    """Runs its own plan under a shorter timeout: that plan's timeout is a call's failure
    for the outer plan."""

    def __init__(self, inner: Any) -> None:
        self.inner = jit(inner, mode="structural")

    async def forward(self, inputs: Any) -> Any:
        with execution_options(timeout=0.1):
            return await self.inner.acall(inputs)


def test_timeout_notes_agree_with_the_thread_scheduler() -> None:
    """The run's own timeout names the call in its message (no note); a timeout raised by a
    call (a nested plan's) gets the note naming that call, as any failure does."""
    from emberjit.errors import ExecutionTimeoutError

    with execution_options(timeout=0.2), pytest.raises(ExecutionTimeoutError) as own:
        asyncio.run(jit(_Pair(_Sleep(0.01), _Sleep(5.0)), mode="structural").acall(X))
    assert "_Pair.b (_Sleep)" in str(own.value)
    assert not getattr(own.value, "__notes__", [])

    inner = _Pair(_Sleep(0.01), _Sleep(5.0))
    outer = jit(_Pair(_Sleep(0.01), _Tight(inner)), mode="structural", recursive=False)
    with execution_options(timeout=5.0), pytest.raises(ExecutionTimeoutError) as nested:
        asyncio.run(outer.acall(X))
    assert "_Pair.b (_Sleep)" in str(nested.value) and "timeout=0.1" in str(nested.value)
    assert nested.value.__notes__ == ["emberjit: raised by _Pair.b (_Tight)"]


def test_sync_operator_error_in_async_plan_is_the_original() -> None:
    class Boom(Operator[Any, Any]):
        def forward(self, inputs: Any) -> Any:
            raise KeyError("boom")

    fast = jit(Fan([Tracked(0.01), Boom(), Tracked(0.01)]), mode="structural")
    with pytest.raises(KeyError, match="boom"):
        asyncio.run(fast.acall(X))


# -- max_concurrency ---------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["threads", "async", "sequential"])
def test_max_concurrency_bounds_calls_in_flight(scheduler: str) -> None:
    Tracked.reset()
    fast = jit(Fan([Tracked(0.03) for _ in range(12)]), mode="structural")
    with execution_options(scheduler=scheduler, max_concurrency=3):
        assert fast(X) == ["q"] * 12
    assert Tracked.peak == (1 if scheduler == "sequential" else 3)  # bounded, and reached
    Tracked.reset()
    with execution_options(scheduler=scheduler):
        fast(X)
    # unbounded: more than the bound at once (all 12 on a quiet machine; a loaded one may
    # finish the first calls before the last start)
    assert Tracked.peak == 1 if scheduler == "sequential" else Tracked.peak > 3


def test_max_concurrency_bounds_async_operators() -> None:
    inflight = {"now": 0, "peak": 0}

    class Counted(Operator[Any, Any]):
        async def forward(self, inputs: Any) -> Any:
            inflight["now"] += 1
            inflight["peak"] = max(inflight["peak"], inflight["now"])
            await asyncio.sleep(0.02)
            inflight["now"] -= 1
            return inputs

    fast = jit(Fan([Counted() for _ in range(20)]), mode="structural")
    with execution_options(max_concurrency=4):
        assert asyncio.run(fast.acall(X)) == [X] * 20
    assert inflight["peak"] == 4


# -- a nested plan cancelled while it winds down leaves nothing running (fuzz case 1f27f7841761) --


class _Busy(Operator[Any, Any]):
    """A sync leaf that takes a while and says whether it is still running."""

    running = 0
    lock = threading.Lock()

    def forward(self, x: Any) -> Any:
        with _Busy.lock:
            _Busy.running += 1
        try:
            time.sleep(0.03)
            return x
        finally:
            with _Busy.lock:
                _Busy.running -= 1


class _Quick(Operator[Any, Any]):
    def forward(self, x: Any) -> Any:
        return x


class _WindsDown(Operator[Any, Any]):
    """Starts a slow call, then its own code fails: its plan waits for the call before it raises
    (eager would have run it first)."""

    def __init__(self) -> None:
        self.members = [_Quick(), _Busy()]

    def forward(self, x: Any) -> Any:
        started = [m(x) for m in self.members]  # noqa: F841  (started, never read)
        raise LookupError("its own code fails")


class _FailsAtOnce(Operator[Any, Any]):
    def __init__(self) -> None:
        self.quick = _Quick()

    def forward(self, x: Any) -> Any:
        raise NameError("the first member fails")


class _Members(Operator[Any, Any]):
    def __init__(self) -> None:
        self.members = [_FailsAtOnce(), _WindsDown()]

    def forward(self, x: Any) -> Any:
        out = []
        for m in self.members:
            out.append(m(x))
        return out


def test_a_nested_plan_cancelled_while_it_waits_lets_nothing_outlive_the_call() -> None:
    fast = jit(_Members(), mode="structural")
    for _ in range(5):
        with execution_options(scheduler="async"), pytest.raises(NameError):
            fast(1)
        assert _Busy.running == 0, "a call of the nested plan still runs after the call ended"
        time.sleep(0.04)  # a straggler (if any) ends before the next round
