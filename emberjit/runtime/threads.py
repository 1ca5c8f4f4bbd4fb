"""The threads scheduler: calls run on a shared pool as soon as their inputs are ready.

A :class:`ThreadRun` numbers its calls in program order. Whatever fails, it raises what eager
execution would have: the failed call first in program order, after letting every earlier call
finish; calls after it that have not started are cancelled, running ones are waited for.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ExecutionTimeoutError
from ..operator import CallArgs, is_pure
from . import handles
from .base import Continuation, Namer, Run, describe_operator
from .limits import bounded, thread_limit
from .pool import DONE, Pool, Task

__all__ = ["ThreadRun", "resolve"]


def _collect(value: Any, into: list[Task]) -> None:
    """Append every task found in ``value`` (a task, or lists/tuples/dicts of them) to ``into``."""
    handles.collect(value, Task, into)


def resolve(value: Any) -> Any:
    """Replace finished tasks by their values: lists and dicts in place, tuples rebuilt."""
    return handles.resolve(value, Task, _task_value)


def _task_value(task: Task) -> Any:
    return task.value


_CONTAINERS = frozenset({Task, list, dict, tuple})


class ThreadRun(Run):
    """One plan invocation on a :class:`~emberjit.runtime.pool.Pool`."""

    __slots__ = ("_impure_from", "_raised", "_settled", "_void", "pool", "tasks", "timeout")
    scheduler_name = "threads"

    def __init__(self, root: str, namer: Namer, pool: Pool, timeout: float | None,
                 route: Mapping[int, Any] | None = None) -> None:
        super().__init__(root, namer, route)
        self.pool = pool
        self.timeout = timeout
        self.tasks: list[Task] = []
        self._settled = 0  # tasks[:_settled] are done and checked
        self._raised: set[int] = set()  # ids of errors already raised into the plan
        self._impure_from = 0  # the last impure call's index: it waited for all before it
        #: calls started before a failure raised into the plan but after it in program order:
        #: eager never made them (the failure came first), so their own failures never count
        self._void: set[int] = set()

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Task:
        deps: list[Task] = []
        resolver: Callable[[Any], Any] | None = None
        if type(arg) is Task:
            deps.append(arg)
            resolver = _task_value
        elif type(arg) is CallArgs:  # op(question=q): pending values among the named inputs
            _collect(arg, deps)
            resolver = resolve
        if after:
            for value in after:
                _collect(value, deps)
            if deps and resolver is None:
                resolver = resolve
        fn = self.target(op) if self.route else None
        limit = thread_limit()  # execution_options(max_concurrency=N): a leaf call takes a slot
        if limit is not None and (fn is None or fn is op) and type(op) is not Continuation:
            fn = bounded(limit, op)
        task = Task(op, arg, len(self.tasks), resolver, contextvars.copy_context(), fn)
        task.run = self
        if not is_pure(op):
            # Eager runs an impure call only once every earlier call returned (none raised):
            # it waits for every call since the last impure one (which waited for the rest).
            # Failures the plan already caught (try/except) do not hold it back.
            raised = self._raised
            deps.extend(t for t in self.tasks[self._impure_from:]
                        if t.state != DONE or (t.error is not None and id(t.error) not in raised))
            self._impure_from = len(self.tasks)
        elif type(op) is Continuation or (self.inline and id(op) in self.inline
                                           and limit is None):
            if all(d.state == DONE and d.error is None for d in deps):
                self.tasks.append(task)
                self.pool.run_now(task, deps)  # cheap, inputs ready: here, no pool hop
                return task
            task.inline = True  # run by the thread that finishes its last input
        self.tasks.append(task)
        self.pool.submit(task, deps)
        return task

    def fork(self) -> ThreadRun:
        return ThreadRun(self.root, self.namer, self.pool, self.timeout, self.route)

    def wait(self, value: Any) -> Any:
        kind = type(value)
        if kind is Task:
            return self._result(value)
        if kind is list:
            for i, item in enumerate(value):
                if type(item) in _CONTAINERS:
                    value[i] = self.wait(item)
        elif kind is dict:
            for key, item in value.items():
                if type(item) in _CONTAINERS:
                    value[key] = self.wait(item)
        elif kind is tuple:
            return tuple(self.wait(item) for item in value)
        return value

    def _result(self, task: Task) -> Any:
        if task.state != DONE and not self.pool.wait(task, self.timeout):
            raise self._fail(task, self._timeout_error(task))
        if task.error is not None:
            raise self._fail(task, task.error)
        return task.value

    def barrier(self) -> None:
        tasks = self.tasks
        for i in range(self._settled, len(tasks)):
            task = tasks[i]
            if task.state != DONE and not self.pool.wait(task, self.timeout):
                raise self._fail(task, self._timeout_error(task))
            if task.error is not None and id(task.error) not in self._raised \
                    and task.seq not in self._void:
                raise self._fail(task, task.error)
            self._settled = i + 1

    def abort(self, exc: BaseException) -> BaseException:
        if id(exc) not in self._raised and isinstance(exc, Exception):
            # The plan's own code raised: every call started before it, so eager would have run
            # them all first. The first of them that failed is what eager raises.
            try:
                self.barrier()
            except Exception as earlier:
                exc = earlier
            else:
                return exc
        # An operator's failure chosen by program order, or an interrupt: nothing more may
        # start; let what runs finish (bounded by the timeout).
        self._cancel_from(0, exc)
        self._drain()
        return exc

    # -- failures ----------------------------------------------------------------------------

    def _fail(self, task: Task, error: BaseException) -> BaseException:
        """The exception to raise now that ``task`` failed: the first failure in program order."""
        for earlier in self.tasks[self._settled:task.seq]:
            if earlier.state != DONE:
                self.pool.wait(earlier, self.timeout)
            if earlier.state == DONE and earlier.error is not None \
                    and id(earlier.error) not in self._raised and earlier.seq not in self._void:
                task, error = earlier, earlier.error
                break
        first_time = id(error) not in self._raised
        self._raised.add(id(error))
        self._void.update(range(task.seq + 1, len(self.tasks)))
        self._cancel_from(task.seq + 1, error)
        if first_time and error is task.error and isinstance(error, Exception):
            origin = self._origin(task)
            self.note(error, origin.op)
        return error

    def _origin(self, task: Task) -> Task:
        """The task whose operator raised ``task.error`` (itself, or an input it inherited from)."""
        for earlier in self.tasks[: task.seq]:
            if earlier.error is task.error:
                return earlier
        return task

    def _cancel_from(self, start: int, error: BaseException) -> None:
        for task in self.tasks[start:]:
            self.pool.cancel(task, error)

    def _drain(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        for task in self.tasks:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.pool.wait(task, remaining)

    def _timeout_error(self, task: Task) -> ExecutionTimeoutError:
        assert self.timeout is not None
        call = describe_operator(self.root, self.namer, task.op)
        return ExecutionTimeoutError(call, self.timeout)
