"""Tests of emberjit/runtime: the schedulers generated plans run on.

Everything goes through the interface plans use: ``run.submit(op, arg, *after)`` returns a handle
(a Task on threads, the value itself on sequential), ``run.wait``, ``run.barrier``,
``run.finish(result)`` when the plan returns and ``run.abort(exc)`` when it raises.
"""

from __future__ import annotations

import contextvars
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from emberjit.errors import ExecutionTimeoutError, InvalidOptionError
from emberjit.executors import DONE
from emberjit.operator import Operator
from emberjit.options import ExecutionOptions, current, execution_options
from emberjit.runtime import (
    Run,
    SequentialRun,
    ThreadRun,
    get_pool,
    new_run,
    scheduler_for,
    shutdown_pools,
)

NOTE = "emberjit: raised by Root.members[3] (Boom)"


def members3(op: object) -> str:
    return "members[3]"


def no_path(op: object) -> str:
    return ""


def threads(max_workers: int | None = None, timeout: float | None = None) -> ThreadRun:
    return ThreadRun("Root", members3, get_pool(max_workers), timeout)


def all_done(run: ThreadRun) -> bool:
    return all(task.state == DONE for task in run.tasks)


# -- operators -----------------------------------------------------------------------------------


class Sleep(Operator[Any, Any]):
    """Sleeps, then returns ``fn(inputs)``; records that it ran."""

    def __init__(self, seconds: float, fn: Callable[[Any], Any] = lambda x: x) -> None:
        self.seconds, self.fn = seconds, fn
        self.ran = threading.Event()

    def forward(self, inputs: Any) -> Any:
        self.ran.set()
        time.sleep(self.seconds)
        return self.fn(inputs)


class Boom(Operator[Any, Any]):
    """Sleeps, then raises ``ValueError(tag)``."""

    def __init__(self, seconds: float = 0.0, tag: str = "boom") -> None:
        self.seconds, self.tag = seconds, tag

    def forward(self, inputs: Any) -> Any:
        time.sleep(self.seconds)
        raise ValueError(self.tag)


class Recorder(Operator[Any, Any]):
    """Appends its name to a shared list when it starts and when it ends."""

    def __init__(self, name: str, seconds: float, log: list[tuple[str, str]],
                 lock: threading.Lock) -> None:
        self.name, self.seconds, self.log, self.lock = name, seconds, log, lock

    def forward(self, inputs: Any) -> Any:
        with self.lock:
            self.log.append(("start", self.name))
        time.sleep(self.seconds)
        with self.lock:
            self.log.append(("end", self.name))
        return self.name


class ImpureRecorder(Recorder):
    pure = False


class Node(Operator[int, int]):
    """A nested plan: a fan-out of ``width`` children, ``depth`` levels deep; leaves sleep."""

    def __init__(self, depth: int, width: int, sizes: list[int | None], leaf_sleep: float) -> None:
        self.depth, self.width, self.sizes, self.leaf_sleep = depth, width, sizes, leaf_sleep
        self.child = Node(depth - 1, width, sizes, leaf_sleep) if depth else None

    def forward(self, inputs: int) -> int:
        if self.child is None:
            time.sleep(self.leaf_sleep)
            return inputs
        run = ThreadRun("Node", no_path, get_pool(self.sizes[self.depth - 1]), None)
        handles = [run.submit(self.child, inputs * self.width + i) for i in range(self.width)]
        return sum(run.finish(handles))


# -- nesting -------------------------------------------------------------------------------------


@pytest.mark.timeout(15)
@pytest.mark.parametrize("max_workers", [1, 2, 64])
def test_nested_fan_out_never_deadlocks(max_workers: int) -> None:
    # Three levels of nested plans, 5 wide each: 125 leaves, each returning its own index.
    root = Node(3, 5, [max_workers] * 3, leaf_sleep=0.002)
    start = time.monotonic()
    assert root(0) == sum(range(125))
    assert time.monotonic() - start < 5


@pytest.mark.timeout(15)
def test_nested_plans_on_different_pools_never_deadlock() -> None:
    # Each level runs on a pool of its own size (a nested execution_options(max_workers=...)):
    # a worker of one pool waiting for another pool's calls must not starve either of them.
    root = Node(3, 5, [1, 2, 1], leaf_sleep=0.002)
    assert root(0) == sum(range(125))


# -- parallelism ---------------------------------------------------------------------------------


def test_threads_run_calls_in_parallel() -> None:
    op = Sleep(0.05, lambda x: x * 2)
    run = threads()
    start = time.monotonic()
    handles = [run.submit(op, i) for i in range(10)]
    assert run.finish(handles) == [i * 2 for i in range(10)]
    assert time.monotonic() - start < 0.25


def test_threads_run_in_parallel_on_a_warm_pool() -> None:
    # A pool with one idle worker (a previous plan ran one call) must still start a thread per
    # ready call, not leave them queued behind the idle one.
    shutdown_pools()
    pool = get_pool(23)
    ThreadRun("Root", members3, pool, None).call(Sleep(0), 0)
    assert pool.thread_count() == 1
    op = Sleep(0.05)
    run = ThreadRun("Root", members3, pool, None)
    start = time.monotonic()
    handles = [run.submit(op, i) for i in range(10)]
    assert run.finish(handles) == list(range(10))
    assert time.monotonic() - start < 0.25


def test_sequential_runs_calls_one_after_another() -> None:
    op = Sleep(0.05, lambda x: x * 2)
    run = SequentialRun("Root", members3)
    start = time.monotonic()
    results = [run.submit(op, i) for i in range(10)]
    assert run.finish(results) == [i * 2 for i in range(10)]
    assert time.monotonic() - start >= 0.5


# -- dependencies and values ----------------------------------------------------------------------


def test_dependent_call_gets_the_value_of_its_input() -> None:
    log: list[str] = []
    a = Sleep(0.03, lambda x: log.append("a") or x + 1)
    b = Sleep(0, lambda x: log.append("b") or x * 10)
    run = threads()
    h = run.submit(b, run.submit(a, 1))
    assert run.wait(h) == 20
    assert log == ["a", "b"]
    assert run.finish(None) is None


def test_dict_display_with_pending_list_is_resolved() -> None:
    seen: list[Any] = []

    def judge(inputs: dict[str, Any]) -> str:
        seen.append(inputs)
        return max(inputs["answers"])

    run = threads()
    h1 = run.submit(Sleep(0.03, str.upper), "x")
    h2 = run.submit(Sleep(0.01, str.upper), "y")
    answers = [h1, h2]
    h = run.submit(judge, {"answers": answers}, answers)
    assert run.finish(h) == "Y"
    assert seen == [{"answers": ["X", "Y"]}]


def test_tuple_after_is_rebuilt() -> None:
    run = threads()
    h1, h2 = run.submit(Sleep(0.01), 1), run.submit(Sleep(0.02), 2)
    pair = (h1, h2)
    h = run.submit(lambda p: (type(p), p), pair, pair)
    assert run.finish(h) == (tuple, (1, 2))


def test_submit_of_a_dependent_never_blocks_the_plan_thread() -> None:
    run = threads()
    a = run.submit(Sleep(0.1, lambda x: x + 1), 1)
    start = time.monotonic()
    b = run.submit(Sleep(0, lambda x: x * 3), a)
    c = run.submit(Sleep(0, lambda x: x), {"v": [a]}, [a])
    elapsed = time.monotonic() - start
    assert elapsed < 0.02
    assert not a.done and not b.done
    assert run.finish([b, c]) == [6, {"v": [2]}]


def test_wait_resolves_containers() -> None:
    run = threads()
    h1, h2 = run.submit(Sleep(0.01), 1), run.submit(Sleep(0.01), 2)
    inner = [h1]
    data = {"a": inner, "b": (h2, 3), "c": "plain"}
    out = run.wait(data)
    assert out is data and data["a"] is inner  # lists and dicts in place
    assert data == {"a": [1], "b": (2, 3), "c": "plain"}  # tuples rebuilt
    assert run.wait(5) == 5
    assert run.call(Sleep(0, lambda x: x + 1), 41) == 42
    run.barrier()
    assert run.finish({"r": [run.submit(Sleep(0), 7)]}) == {"r": [7]}


def test_sequential_handles_are_values() -> None:
    run = SequentialRun("Root", members3)
    h = run.submit(Sleep(0, lambda x: x + 1), 1)
    assert h == 2
    assert run.submit(lambda d: d["answers"], {"answers": [h, 3]}, [h, 3]) == [2, 3]
    assert run.wait({"a": [h]}) == {"a": [2]}
    run.barrier()
    assert run.call(Sleep(0, lambda x: x * 2), 4) == 8
    assert run.finish(h) == 2


# -- errors --------------------------------------------------------------------------------------


def test_error_surfaces_unchanged_with_note_from_wait() -> None:
    run = threads()
    h = run.submit(Boom(0.01), 1)
    with pytest.raises(ValueError) as info:
        run.wait(h)
    assert type(info.value) is ValueError and str(info.value) == "boom"
    assert info.value.__notes__ == [NOTE]
    assert run.abort(info.value) is info.value
    assert all_done(run)


def test_error_surfaces_from_finish() -> None:
    run = threads()
    h = run.submit(Boom(0.01), 1)
    with pytest.raises(ValueError) as info:
        run.finish(h)
    assert type(info.value) is ValueError and str(info.value) == "boom"
    assert info.value.__notes__ == [NOTE]


def test_sequential_raises_at_once_with_note() -> None:
    run = SequentialRun("Root", members3)
    after = Sleep(0)
    with pytest.raises(ValueError) as info:
        run.submit(Boom(), 1)
        run.submit(after, 2)
    assert type(info.value) is ValueError and str(info.value) == "boom"
    assert info.value.__notes__ == [NOTE]
    assert not after.ran.is_set()
    assert run.abort(info.value) is info.value


def test_note_without_path_names_the_type() -> None:
    run = ThreadRun("Root", no_path, get_pool(None), None)
    with pytest.raises(ValueError) as info:
        run.finish(run.submit(Boom(), 1))
    assert info.value.__notes__ == ["emberjit: raised by Root (Boom)"]


@pytest.mark.parametrize("waiter", ["wait_late", "wait_early", "finish"])
def test_first_failure_in_program_order_wins(waiter: str) -> None:
    run = threads()
    ops: list[Operator[Any, Any]] = [Sleep(0.01), Sleep(0.01), Boom(0.1, "late"),
                                     Sleep(0.01), Sleep(0.01), Boom(0.0, "early")]
    handles = [run.submit(op, i) for i, op in enumerate(ops)]
    with pytest.raises(ValueError) as info:
        if waiter == "wait_late":
            run.wait(handles[2])
        elif waiter == "wait_early":
            run.wait(handles[5])
        else:
            run.finish(handles)
    assert str(info.value) == "late"
    assert run.abort(info.value) is info.value
    assert all_done(run)
    assert [t.error for t in run.tasks[:2]] == [None, None]


def test_later_calls_are_cancelled_and_running_ones_finish() -> None:
    # One worker: the failing call runs first, then the slow one; the rest stay queued.
    run = ThreadRun("Root", members3, get_pool(1), None)
    failing = Boom(0.03)
    slow = Sleep(0.15)
    queued = [Sleep(0) for _ in range(3)]
    run.submit(failing, 0)
    h_slow = run.submit(slow, 1)
    for i, op in enumerate(queued):
        run.submit(op, i)
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        run.finish(None)
    # finish returned only once the running call was done: nothing left pending
    assert all_done(run)
    assert time.monotonic() - start >= 0.1
    assert slow.ran.is_set() and h_slow.error is None
    assert not any(op.ran.is_set() for op in queued)
    assert info.value.__notes__ == [NOTE]
    assert run.abort(info.value) is info.value


def test_waiting_calls_after_a_failure_never_run() -> None:
    run = threads()
    slow = Sleep(0.1)
    gated = [Sleep(0) for _ in range(3)]
    run.submit(Boom(0.01), 0)
    h_slow = run.submit(slow, 1)
    for op in gated:
        run.submit(op, h_slow)  # waits for the slow call
    with pytest.raises(ValueError):
        run.finish(None)
    assert all_done(run)
    time.sleep(0.02)
    assert not any(op.ran.is_set() for op in gated)


def test_dependent_of_failed_call_never_runs() -> None:
    run = threads()
    dependent = Sleep(0)
    h = run.submit(Boom(0.02), 1)
    h2 = run.submit(dependent, {"x": [h]}, [h])
    with pytest.raises(ValueError) as info:
        run.wait(h2)
    assert info.value.__notes__ == [NOTE]  # one note, naming the call that raised
    assert run.abort(info.value) is info.value
    assert all_done(run)
    assert not dependent.ran.is_set()


def test_error_of_impure_call_stops_later_impure_calls() -> None:
    class Effect(Sleep):
        pure = False

    run = threads()
    failing = Boom(0.02)
    failing.pure = False  # type: ignore[misc]
    later = Effect(0)
    run.submit(failing, 0)
    run.submit(later, 1)
    with pytest.raises(ValueError):
        run.finish(None)
    assert not later.ran.is_set()


# -- abort ---------------------------------------------------------------------------------------


def test_abort_prefers_an_earlier_failed_call() -> None:
    run = threads()
    run.submit(Sleep(0.01), 0)
    run.submit(Boom(0.03), 1)
    plan_error = RuntimeError("plan")
    result = run.abort(plan_error)
    assert type(result) is ValueError and str(result) == "boom"
    assert result.__notes__ == [NOTE]
    assert all_done(run)


def test_abort_returns_the_plan_error_when_no_call_failed() -> None:
    run = threads()
    ops = [Sleep(0.03) for _ in range(3)]
    for i, op in enumerate(ops):
        run.submit(op, i)
    plan_error = KeyError("plan")
    assert run.abort(plan_error) is plan_error
    assert all_done(run)
    assert all(op.ran.is_set() for op in ops)


def test_abort_returns_plan_error_after_a_running_later_failure_too() -> None:
    # The plan raised; an earlier call failed too, while a later one still runs: abort waits.
    run = threads()
    run.submit(Boom(0.01), 0)
    slow = Sleep(0.1)
    run.submit(slow, 1)
    result = run.abort(RuntimeError("plan"))
    assert type(result) is ValueError
    assert all_done(run)


def test_abort_on_interrupt_cancels_queued_calls() -> None:
    run = ThreadRun("Root", members3, get_pool(1), None)
    running = Sleep(0.1)
    queued = [Sleep(0) for _ in range(3)]
    run.submit(running, 0)
    for i, op in enumerate(queued):
        run.submit(op, i)
    assert running.ran.wait(1)
    interrupt = KeyboardInterrupt()
    assert run.abort(interrupt) is interrupt
    assert all_done(run)  # the running call was let finish
    time.sleep(0.02)
    assert not any(op.ran.is_set() for op in queued)
    assert all(t.error is interrupt for t in run.tasks[1:])


def test_sequential_abort_returns_the_exception() -> None:
    exc = RuntimeError("plan")
    assert SequentialRun("Root", members3).abort(exc) is exc


# -- timeout -------------------------------------------------------------------------------------


class Hang(Operator[Any, Any]):
    def __init__(self) -> None:
        self.release = threading.Event()

    def forward(self, inputs: Any) -> Any:
        self.release.wait(2.0)
        return inputs


def test_timeout_raises_execution_timeout_error() -> None:
    op = Hang()
    run = ThreadRun("Root", members3, get_pool(None), 0.1)
    start = time.monotonic()
    try:
        h = run.submit(op, 1)
        with pytest.raises(ExecutionTimeoutError) as info:
            run.wait(h)
        assert isinstance(info.value, TimeoutError)
        message = str(info.value)
        assert "Root.members[3] (Hang)" in message
        assert "timeout=0.1" in message
        assert run.abort(info.value) is info.value
        assert time.monotonic() - start < 0.5
    finally:
        op.release.set()


def test_timeout_from_finish() -> None:
    op = Hang()
    run = ThreadRun("Root", members3, get_pool(None), 0.1)
    start = time.monotonic()
    try:
        run.submit(op, 1)
        with pytest.raises(ExecutionTimeoutError):
            run.finish(None)
        assert time.monotonic() - start < 0.5
    finally:
        op.release.set()


# -- impure ordering -----------------------------------------------------------------------------


def test_impure_calls_run_in_submission_order() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    run = threads()
    ops = [ImpureRecorder(str(i), s, log, lock) for i, s in enumerate([0.06, 0.03, 0.0])]
    handles = [run.submit(op, None) for op in ops]
    assert run.finish(handles) == ["0", "1", "2"]
    assert log == [("start", "0"), ("end", "0"), ("start", "1"), ("end", "1"),
                   ("start", "2"), ("end", "2")]


def test_pure_calls_overlap() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    run = threads()
    ops = [Recorder(str(i), s, log, lock) for i, s in enumerate([0.06, 0.03, 0.0])]
    handles = [run.submit(op, None) for op in ops]
    assert run.finish(handles) == ["0", "1", "2"]
    ends = [name for kind, name in log if kind == "end"]
    assert ends == ["2", "1", "0"]


def test_impure_calls_do_not_hold_back_pure_ones() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    run = threads()
    run.submit(ImpureRecorder("i0", 0.05, log, lock), None)
    run.submit(Recorder("p", 0.0, log, lock), None)
    run.submit(ImpureRecorder("i1", 0.0, log, lock), None)
    run.finish(None)
    assert log.index(("end", "p")) < log.index(("end", "i0")) < log.index(("start", "i1"))


# -- context -------------------------------------------------------------------------------------

_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_runtime_var", default="unset")


def test_contextvars_reach_worker_threads() -> None:
    def read(_: Any) -> tuple[str, ExecutionOptions, str]:
        return _VAR.get(), current(), threading.current_thread().name

    token = _VAR.set("from the plan")
    try:
        with execution_options(timeout=7.5, max_workers=3):
            run = threads()
            value, options, thread = run.finish(run.submit(read, None))
    finally:
        _VAR.reset(token)
    assert value == "from the plan"
    assert options.timeout == 7.5 and options.max_workers == 3
    assert thread != threading.current_thread().name  # it did run elsewhere


def test_context_is_captured_at_submit() -> None:
    run = threads()
    gate = run.submit(Sleep(0.03), 0)
    token = _VAR.set("one")
    h1 = run.submit(lambda _: _VAR.get(), gate)
    _VAR.reset(token)
    token = _VAR.set("two")
    h2 = run.submit(lambda _: _VAR.get(), gate)
    _VAR.reset(token)
    assert run.finish([h1, h2]) == ["one", "two"]


# -- pool ----------------------------------------------------------------------------------------


def test_pool_starts_threads_lazily_and_stays_bounded() -> None:
    shutdown_pools()
    pool = get_pool(3)
    assert get_pool(3) is pool
    assert pool.thread_count() == 0  # nothing started before the first call
    run = ThreadRun("Root", members3, pool, None)
    assert run.call(Sleep(0), 1) == 1
    assert pool.thread_count() == 1

    peak = 0
    lock = threading.Lock()
    active = 0

    def busy(x: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return x

    handles = [run.submit(busy, i) for i in range(20)]
    assert run.finish(handles) == list(range(20))
    assert peak <= 3
    assert pool.thread_count() <= 3

    before = threading.active_count()
    for i in range(200):
        assert ThreadRun("Root", members3, pool, None).call(Sleep(0), i) == i
    after = threading.active_count()
    assert after - before <= 3
    assert pool.thread_count() <= 3


def test_shutdown_pools_stops_idle_workers() -> None:
    pool = get_pool(4)
    run = ThreadRun("Root", members3, pool, None)
    assert run.finish([run.submit(Sleep(0.01), i) for i in range(4)]) == [0, 1, 2, 3]
    workers = [t for t in threading.enumerate() if t.name.startswith("emberjit-")]
    assert workers
    shutdown_pools()
    deadline = time.monotonic() + 1.0
    while any(t.is_alive() for t in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.is_alive() for t in workers)
    assert pool.thread_count() == 0
    assert get_pool(4) is not pool  # a fresh pool afterwards, and it works
    run = ThreadRun("Root", members3, get_pool(4), None)
    assert run.call(Sleep(0), 5) == 5


def test_interpreter_exits_after_a_fan_out() -> None:
    script = textwrap.dedent("""
        import time
        from emberjit.runtime import ThreadRun, get_pool

        def leaf(x):
            time.sleep(0.01)
            return x

        def node(x):
            run = ThreadRun("Node", lambda op: "", get_pool(None), None)
            return sum(run.finish([run.submit(leaf, x * 5 + i) for i in range(5)]))

        run = ThreadRun("Root", lambda op: "", get_pool(None), None)
        print(sum(run.finish([run.submit(node, i) for i in range(5)])))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sum(range(25)))


# -- choosing a scheduler ------------------------------------------------------------------------


def test_scheduler_for_auto() -> None:
    auto = ExecutionOptions()
    assert scheduler_for(auto, concurrent=True) == "threads"
    assert scheduler_for(auto, concurrent=False) == "sequential"


@pytest.mark.parametrize("name", ["sequential", "threads"])
@pytest.mark.parametrize("concurrent", [True, False])
def test_scheduler_for_explicit(name: str, concurrent: bool) -> None:
    assert scheduler_for(ExecutionOptions(scheduler=name), concurrent) == name


def test_scheduler_for_parallel_alias() -> None:
    with execution_options(scheduler="parallel") as options:
        assert scheduler_for(options, concurrent=False) == "threads"


def test_scheduler_for_unavailable_raises() -> None:
    with pytest.raises(InvalidOptionError, match="valid: auto, sequential, threads, async, dask"):
        scheduler_for(ExecutionOptions(scheduler="gpu"), concurrent=True)


def test_new_run_returns_matching_class() -> None:
    def make(options: ExecutionOptions, concurrent: bool) -> Run:
        return new_run("Root", members3, options, concurrent)

    assert type(make(ExecutionOptions(), True)) is ThreadRun
    assert type(make(ExecutionOptions(), False)) is SequentialRun
    assert type(make(ExecutionOptions(scheduler="sequential"), True)) is SequentialRun
    run = make(ExecutionOptions(scheduler="threads", max_workers=5, timeout=2.0), False)
    assert type(run) is ThreadRun
    assert run.pool is get_pool(5) and run.pool.max_workers == 5
    assert run.timeout == 2.0
    assert run.scheduler_name == "threads"
    assert make(ExecutionOptions(scheduler="sequential"), True).scheduler_name == "sequential"
    assert run.call(Sleep(0, lambda x: x + 1), 1) == 2
