"""The thread pools emberjit runs calls on: all of them, below everything that uses them (layer 0).

Model calls are I/O-bound, so pools are sized for waiting, not for cores
(:data:`DEFAULT_MAX_WORKERS`, 64 threads, started lazily). There are four, each for a reason:

:class:`Pool` (:func:`get_pool`)
    the thread scheduler's persistent pool of :class:`Task` s with dependencies. A task starts
    when the tasks it depends on are done; it is queued then, never before, so no worker ever
    blocks on an unfinished input. Nested plans do block: a plan running inside a worker waits
    for its own calls. To make that safe whatever ``max_workers`` is, a worker that waits
    *helps*: it runs the queued tasks its result depends on itself (like a work-stealing
    fork/join pool). The tasks form a DAG, so every chain of waits ends at a task that is
    running or can be run by the waiter: no deadlock, even with one thread.
:func:`off_loop_executor`
    runs sync operators and sync plans off an event loop (the async scheduler,
    ``Operator.acall``): a plain shared executor, as its callers ``await`` and never block.
:func:`map_executor`
    one batch's own pool (``vmap``, ``Operator.map``), bounded by its ``max_concurrency``.
:func:`helper_thread`
    one new thread for a private event loop started inside a running loop's code.
"""

from __future__ import annotations

import atexit
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["DEFAULT_MAX_WORKERS", "DONE", "Pool", "Task", "get_pool", "helper_thread",
           "map_executor", "off_loop_executor", "shutdown_pools"]

#: workers of a pool when ``execution_options(max_workers=...)`` does not say
DEFAULT_MAX_WORKERS = 64


WAITING, QUEUED, RUNNING, DONE = range(4)


class Task:
    """One submitted call. ``seq`` is its place in program order within its run."""

    __slots__ = ("_done_lock", "after", "arg", "ctx", "dependents", "error", "fn", "inline", "op",
                 "pending", "resolve", "seq", "state", "value")

    def __init__(self, op: Callable[[Any], Any], arg: Any, seq: int,
                 resolve: Callable[[Any], Any] | None, ctx: contextvars.Context,
                 fn: Callable[[Any], Any] | None = None) -> None:
        self.op, self.arg, self.seq, self.resolve, self.ctx = op, arg, seq, resolve, ctx
        self.fn = fn if fn is not None else op  # what runs: op, its own plan, or it recorded
        #: measured cheap (enhanced mode): run by the thread that makes it ready, not queued
        self.inline = False
        self.state = WAITING
        self.value: Any = None
        self.error: BaseException | None = None
        self.pending = 0
        self.after: list[Task] = []
        self.dependents: list[Task] = []
        self._done_lock = threading.Lock()
        self._done_lock.acquire()

    @property
    def done(self) -> bool:
        return self.state == DONE

    def wait_done(self, timeout: float | None) -> bool:
        """Block until the task is done (or ``timeout`` seconds pass); True when done."""
        if self.state == DONE:
            return True
        if self._done_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            self._done_lock.release()
            return True
        return self.state == DONE

    def __repr__(self) -> str:
        state = ("waiting", "queued", "running", "done")[self.state]
        return f"<Task #{self.seq} {type(self.op).__qualname__} {state}>"


class Pool:
    """Worker threads started on demand, up to ``max_workers``; see the module docstring."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Task] = deque()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._shutdown = False

    # -- submitting --------------------------------------------------------------------------

    def submit(self, task: Task, deps: list[Task]) -> None:
        """Queue ``task`` once every task in ``deps`` is done."""
        with self._cond:
            for dep in deps:
                if dep.state != DONE:
                    task.pending += 1
                    dep.dependents.append(task)
                elif dep.error is not None and task.error is None:
                    task.error = dep.error
            task.after = deps
            if task.pending == 0:
                self._ready(task)

    def run_now(self, task: Task, deps: list[Task]) -> None:
        """Run ``task``, whose inputs are all done, in the calling thread (a cheap call: the hop
        to a worker would cost more than the call)."""
        task.after = deps
        task.state = RUNNING
        self._execute(task)

    def _ready(self, task: Task) -> None:
        """With the lock held: queue a task whose inputs are done (or finish it, failed)."""
        if task.error is not None:  # an input failed: the call never runs, it fails alike
            self._finish(task)
            return
        task.state = QUEUED
        deferred: list[Task] | None = getattr(_local, "deferred", None)
        if task.inline and deferred is not None:  # the finishing thread runs it (_execute)
            deferred.append(task)
            return
        self._queue.append(task)
        if self._idle:
            self._cond.notify()
        # ``_idle`` counts notified workers until they wake and take the lock: start a thread
        # whenever queued tasks outnumber the idle workers, not only when none is idle.
        if (len(self._queue) > self._idle and len(self._threads) < self.max_workers
                and not self._shutdown):
            thread = threading.Thread(target=self._work, name=f"emberjit-{len(self._threads)}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def _finish(self, task: Task) -> None:
        """With the lock held: mark done, release waiters, queue dependents that became ready."""
        task.state = DONE
        task.arg = None
        task._done_lock.release()
        for dependent in task.dependents:
            if task.error is not None and dependent.error is None:
                dependent.error = task.error
            dependent.pending -= 1
            if dependent.pending == 0 and dependent.state == WAITING:
                self._ready(dependent)
        task.dependents = []

    def cancel(self, task: Task, error: BaseException) -> bool:
        """Fail a task that has not started with ``error``; False if it already runs or ran."""
        with self._cond:
            if task.state not in (WAITING, QUEUED):
                return False
            task.error = error
            self._finish(task)
            return True

    # -- running -----------------------------------------------------------------------------

    def _claim(self, task: Task) -> bool:
        with self._cond:
            if task.state != QUEUED:
                return False
            task.state = RUNNING
            return True

    def _execute(self, task: Task) -> None:
        """Run ``task`` (claimed: RUNNING), then any inline task its finish made ready."""
        todo = deque([task])
        while todo:
            current = todo.popleft()
            try:
                arg = current.resolve(current.arg) if current.resolve is not None \
                    else current.arg
                current.value = current.ctx.run(current.fn, arg)
            except BaseException as exc:  # surfaced to the plan that waits for it
                current.error = exc
            deferred: list[Task] = []
            _local.deferred = deferred
            try:
                with self._cond:
                    self._finish(current)
            finally:
                _local.deferred = None
            todo.extend(t for t in deferred if self._claim(t))

    def _work(self) -> None:
        _local.pool = self
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._shutdown:
                    self._idle += 1
                    cond.wait()
                    self._idle -= 1
                if not self._queue:
                    return
                task = self._queue.popleft()
                if task.state != QUEUED:
                    continue  # a waiting worker ran it already, or it was cancelled
                task.state = RUNNING
            self._execute(task)

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, task: Task, timeout: float | None) -> bool:
        """Wait until ``task`` is done; True when it is. A worker thread helps (see module doc)."""
        if task.state == DONE:
            return True
        if getattr(_local, "pool", None) is None:  # not a worker (of any pool): just block
            return task.wait_done(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while task.state != DONE:
            runnable, running = self._find_work(task)
            if runnable is not None and self._claim(runnable):
                self._execute(runnable)
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            target = running or task
            step = 0.05 if remaining is None else min(remaining, 0.05)
            target.wait_done(step)
        return True

    @staticmethod
    def _find_work(task: Task) -> tuple[Task | None, Task | None]:
        """A queued task that ``task`` transitively needs (to run here), else a running one."""
        stack, seen, running = [task], set(), None
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if current.state == QUEUED:
                return current, None
            if current.state == RUNNING and running is None:
                running = current
            elif current.state == WAITING:
                stack.extend(dep for dep in current.after if dep.state != DONE)
        return None, running

    def shutdown(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))

    def thread_count(self) -> int:
        return sum(t.is_alive() for t in self._threads)


_local = threading.local()
_pools: dict[int, Pool] = {}
_pools_lock = threading.Lock()


def get_pool(max_workers: int | None) -> Pool:
    """The shared pool for this size (created on first use; threads start lazily)."""
    size = max_workers or DEFAULT_MAX_WORKERS
    pool = _pools.get(size)
    if pool is None:
        with _pools_lock:
            pool = _pools.setdefault(size, Pool(size))
    return pool


@atexit.register
def shutdown_pools() -> None:
    """Stop every pool's idle workers (at interpreter exit; tests call it too)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown()


# -- plain executors ---------------------------------------------------------------------------

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
