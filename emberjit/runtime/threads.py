"""The threads scheduler: calls run on a shared pool as soon as their inputs are ready.

A :class:`ThreadRun` numbers its calls in program order and raises what eager execution would
have raised: the policy of :mod:`.order` (the failed call first in program order, after letting
every earlier call finish; calls after it that have not started are cancelled, running ones are
waited for). This module supplies how to wait: on the pool, which lets a waiting worker help.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ExecutionTimeoutError
from ..executors import DONE, Pool, Task
from ..operator import CallArgs, is_pure
from ..profiling import hooks
from . import handles
from .base import CODE, Continuation, Namer, Run, describe_operator
from .limits import bounded, thread_limit
from .order import ProgramOrder, drive

__all__ = ["ThreadRun", "resolve"]


def resolve(value: Any) -> Any:
    """Replace finished tasks by their values: lists and dicts in place, tuples rebuilt."""
    return handles.resolve(value, Task, _task_value)


def _task_value(task: Task) -> Any:
    return task.value


class ThreadRun(Run):
    """One plan invocation on a :class:`~emberjit.executors.Pool`; the
    :class:`~emberjit.runtime.order.Calls` of its policy are its pool tasks."""

    __slots__ = ("order", "pool", "timeout")
    scheduler_name = "threads"

    def __init__(self, root: str, namer: Namer, pool: Pool, timeout: float | None,
                 route: Mapping[int, Any] | None = None) -> None:
        super().__init__(root, namer, route)
        self.pool = pool
        self.timeout = timeout
        self.order: ProgramOrder[Task] = ProgramOrder()

    @property
    def tasks(self) -> list[Task]:
        """Every call started, in program order."""
        return self.order.entries

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Task:
        deps: list[Task] = []
        resolver: Callable[[Any], Any] | None = None
        if type(arg) is Task:
            deps.append(arg)
            resolver = _task_value
        elif type(arg) is CallArgs:  # op(question=q): pending values among the named inputs
            handles.collect(arg, Task, deps)
            resolver = resolve
        if after:
            for value in after:
                handles.collect(value, Task, deps)
            if deps and resolver is None:
                resolver = resolve
        fn = self.target(op) if self.route else None
        limit = thread_limit()  # execution_options(max_concurrency=N): a leaf call takes a slot
        if limit is not None and (fn is None or fn is op) and type(op) is not Continuation:
            fn = bounded(limit, op)
        if hooks.active and type(op) not in CODE:  # a profile is open: record the call
            fn = functools.partial(hooks.call, op, self.site(), op if fn is None else fn)
        tasks = self.order.entries
        task = Task(op, arg, len(tasks), resolver, contextvars.copy_context(), fn)
        if not is_pure(op):
            deps.extend(self.order.impure_deps(self))
        elif type(op) is Continuation or (self.inline and id(op) in self.inline
                                           and limit is None):
            if all(d.state == DONE and d.error is None for d in deps):
                tasks.append(task)
                self.pool.run_now(task, deps)  # cheap, inputs ready: here, no pool hop
                return task
            task.inline = True  # run by the thread that finishes its last input
        tasks.append(task)
        self.pool.submit(task, deps)
        return task

    def fork(self) -> ThreadRun:
        return ThreadRun(self.root, self.namer, self.pool, self.timeout, self.route)

    def wait(self, value: Any) -> Any:
        kind = type(value)
        if kind is Task:
            return self._result(value)
        if kind is list or kind is dict or kind is tuple:
            for task in handles.pending(value, Task):
                self._result(task)
            return handles.resolve(value, Task, _task_value)
        return value

    def _result(self, task: Task) -> Any:
        if task.state != DONE or task.error is not None:
            error = drive(self.order.result(self, task.seq), self._wait)
            if error is not None:
                raise error
        return task.value

    def barrier(self) -> None:
        order = self.order
        if order.settled < len(order.entries):
            error = drive(order.barrier(self), self._wait)
            if error is not None:
                raise error

    def abort(self, exc: BaseException) -> BaseException:
        chosen, cancelled = drive(self.order.abort(self, exc), self._wait)
        if cancelled:  # let what runs finish (bounded by the timeout)
            self._drain()
        return chosen

    # -- what the program-order policy asks of the calls (order.Calls) -------------------------

    def _wait(self, task: Task) -> bool:
        return self.pool.wait(task, self.timeout)

    def _drain(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        for task in self.order.entries:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.pool.wait(task, remaining)

    @staticmethod
    def done(task: Task) -> bool:
        return task.state == DONE

    @staticmethod
    def error(task: Task) -> BaseException | None:
        return task.error

    def cancel(self, tasks: Sequence[Task], error: BaseException) -> None:
        for task in tasks:
            self.pool.cancel(task, error)

    def timeout_error(self, task: Task) -> ExecutionTimeoutError:
        assert self.timeout is not None
        call = describe_operator(self.root, self.namer, task.op)
        return ExecutionTimeoutError(call, self.timeout)

    def add_note(self, error: BaseException, task: Task) -> None:
        self.note(error, task.op)
