"""The async scheduler: a plan's calls are ``asyncio`` tasks on the caller's event loop.

The plan is the ``async def`` variant of the plan source (:mod:`emberjit.compiler.async_plan`):
``run.submit`` starts a task and returns its :class:`Handle`; ``await run.wait(...)``,
``await run.call(...)``, ``await run.barrier()`` wait. Operators with ``async def forward`` (and
jitted operators, through their own ``acall``) are awaited on the loop, so thousands of calls
can be in flight on one thread; sync operators run off the loop on a thread pool sized for I/O.

Failures have TaskGroup semantics with eager's choice of exception: when a call fails, the first
failure in program order is raised (earlier calls are waited for first), every later call is
cancelled, and the run waits until every task has settled, so nothing is left running on the
loop when the plan returns or raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ..errors import ExecutionTimeoutError
from ..executors import off_loop_executor
from ..operator import Operator, has_async_forward, is_pure
from ..profiling import hooks as _profile
from . import handles
from .base import CODE, Continuation, Namer, Run, describe_operator
from .early import Deferred, Failed, Later
from .limits import abounded, async_limit

__all__ = ["AsyncRun", "Handle", "async_target", "off_loop_executor"]


class Handle:
    """One submitted call: its asyncio task, its place in program order, and (for a sync
    operator) the future of the worker thread running it: cancelling the task does not stop
    that thread, so the run waits for it before it returns or raises."""

    __slots__ = ("op", "seq", "task", "thread")

    def __init__(self, op: Any, seq: int) -> None:
        self.op, self.seq = op, seq
        self.task: asyncio.Task[Any]
        self.thread: concurrent.futures.Future[Any] | None = None

    def __repr__(self) -> str:
        state = "done" if self.task.done() else "pending"
        return f"<Handle #{self.seq} {type(self.op).__qualname__} {state}>"


_CONTAINERS = frozenset({Handle, list, dict, tuple})


def async_target(op: Any, route: Mapping[int, Any]) -> tuple[Callable[[Any], Any] | None, bool]:
    """``(coroutine function to await for op on the loop or None for a sync operator, whether
    it is a plan of its own)``: a plan's own calls take the ``max_concurrency`` slots."""
    state = route.get(id(op))
    if state is not None and state.owner is op:
        return state.acall, True
    own = getattr(op, "__dict__", {}).get("_emberjit_state")
    if own is not None:  # jit(instance), or an instance of a @jit class
        return own.acall, True
    if isinstance(op, Operator):
        if type(op)._emberjit_config is not None:
            return op.acall, True
        if has_async_forward(type(op)) or type(op).acall is not Operator.acall:
            return op.acall, False  # an async forward, or an operator's own async acall
    return None, False


def _collect(value: Any, into: list[Handle]) -> None:
    handles.collect(value, Handle, into)


def _resolve(value: Any) -> Any:
    """Replace finished handles by their values: lists and dicts in place, tuples rebuilt."""
    return handles.resolve(value, Handle, _handle_value)


def _handle_value(handle: Handle) -> Any:
    return handle.task.result()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """The run raises a failure itself (the first in program order); the others are settled
    here, so asyncio does not log them as "never retrieved" when the tasks are collected."""
    if not task.cancelled():
        task.exception()


class AsyncRun(Run):
    """One plan invocation on the running event loop. See the module docstring."""

    __slots__ = ("_cancelled", "_impure_from", "_raised", "_settled", "_void", "executor",
                 "handles", "timeout")
    scheduler_name = "async"

    def __init__(self, root: str, namer: Namer, timeout: float | None,
                 max_workers: int | None = None,
                 route: Mapping[int, Any] | None = None) -> None:
        super().__init__(root, namer, route)
        self.timeout = timeout
        self.executor = off_loop_executor(max_workers)
        self.handles: list[Handle] = []
        self._settled = 0
        self._raised: set[int] = set()
        self._impure_from = 0
        self._cancelled: dict[int, BaseException] = {}  # seq -> the failure that cancelled it
        self._void: set[int] = set()  # started after a failure raised first (see ThreadRun)

    def fork(self) -> Run:
        """A block's own run: the block runs off the loop, in a worker thread, so its calls
        go to the thread pool."""
        from .pool import get_pool
        from .threads import ThreadRun

        return ThreadRun(self.root, self.namer, get_pool(None), self.timeout, self.route)

    # -- starting calls ----------------------------------------------------------------------

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Handle:
        deps: list[Handle] = []
        _collect(arg, deps)
        for value in after:
            _collect(value, deps)
        if not is_pure(op):
            # eager runs an impure call once every earlier call returned: wait for them all
            deps.extend(h for h in self.handles[self._impure_from:]
                        if not h.task.done() or id(self._error_of(h)) not in self._raised)
            self._impure_from = len(self.handles)
        handle = Handle(op, len(self.handles))
        handle.task = asyncio.get_running_loop().create_task(self._execute(handle, arg, deps))
        handle.task.add_done_callback(_retrieved)
        self.handles.append(handle)
        return handle

    async def _execute(self, handle: Handle, arg: Any, deps: list[Handle]) -> Any:
        op = handle.op
        if deps:
            pending = {h.task for h in deps if not h.task.done()}
            if pending:  # asyncio.wait never cancels what it waits for (``await task`` would)
                await asyncio.wait(pending)
            for dep in deps:  # an input failed: the call never runs, it fails alike
                if dep.task.cancelled():
                    raise asyncio.CancelledError
                error = dep.task.exception()
                if error is not None:
                    raise error
            arg = _resolve(arg)
        if type(op) is Continuation:  # ordinary code of forward: on the loop, like the plan's
            return op(arg)
        limit = async_limit()
        target, plan = async_target(op, self.route)
        if limit is not None and not plan:  # a leaf call: it takes a slot
            return await abounded(limit, lambda: self._invoke(handle, arg, target))
        return await self._invoke(handle, arg, target)

    async def _invoke(self, handle: Handle, arg: Any,
                      target: Callable[[Any], Any] | None) -> Any:
        if _profile.active and type(handle.op) not in CODE:  # a profile is open: record it
            return await _profile.acall(self, handle.op,
                                        lambda: self._call_op(handle, arg, target))
        return await self._call_op(handle, arg, target)

    async def _call_op(self, handle: Handle, arg: Any,
                       target: Callable[[Any], Any] | None) -> Any:
        op = handle.op
        if target is not None:
            coro: Coroutine[Any, Any, Any] = target(arg)
        else:  # a sync operator: off the loop, in this task's context
            ctx = contextvars.copy_context()
            handle.thread = self.executor.submit(ctx.run, op, arg)
            coro = _future(asyncio.wrap_future(handle.thread))
        if self.timeout is None:
            return await coro
        try:
            async with asyncio.timeout(self.timeout) as cm:
                return await coro
        except TimeoutError:
            if cm.expired():
                call = describe_operator(self.root, self.namer, op)
                raise ExecutionTimeoutError(call, self.timeout) from None
            raise

    # -- waiting -------------------------------------------------------------------------------

    async def wait(self, value: Any) -> Any:
        kind = type(value)
        if kind is Handle:
            return await self._result(value)
        if kind is list:
            for i, item in enumerate(value):
                if type(item) in _CONTAINERS:
                    value[i] = await self.wait(item)
        elif kind is dict:
            for key, item in value.items():
                if type(item) in _CONTAINERS:
                    value[key] = await self.wait(item)
        elif kind is tuple:
            return tuple([await self.wait(item) for item in value])
        return value

    async def ready(self, value: Any) -> Any:
        """See :meth:`Run.ready` (awaited)."""
        return value if type(value) in (list, dict, tuple) else await self.wait(value)

    async def call(self, op: Callable[[Any], Any], arg: Any,
                   *after: Any) -> Any:
        return await self._result(self.submit(op, arg, *after))

    async def take(self, handle: Any, make_input: Callable[[], Any] | None = None) -> Any:
        """See :meth:`Run.take` (awaited)."""
        if type(handle) is Failed:
            raise handle.error
        if type(handle) is Deferred:
            return await self.call(handle.op, handle.arg)
        if type(handle) is Later:
            assert make_input is not None
            return await self.call(handle.op, make_input())
        outcome = await self.wait(handle)
        if outcome.error is not None:
            if outcome.op is not None:
                self.note(outcome.error, outcome.op)
            raise outcome.error
        return outcome.value

    async def submit_any(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        """See :meth:`Run.submit_any` (awaited: a callable that is not an operator waits for
        every call started so far, then runs on the loop like the plan's other code)."""
        from ..operator import Operator

        if isinstance(op, Operator):
            return self.submit(op, arg, *after)
        await self.barrier()
        return op(await self.wait(arg))

    async def _result(self, handle: Handle) -> Any:
        task = handle.task
        if not task.done():
            await asyncio.wait({task})
        error = self._error_of(handle)
        if error is not None:
            raise await self._fail(handle, error)
        return task.result()

    async def barrier(self) -> None:  # type: ignore[override]
        handles = self.handles
        while self._settled < len(handles):
            handle = handles[self._settled]
            if not handle.task.done():
                await asyncio.wait({handle.task})
            error = self._error_of(handle)
            if error is not None and id(error) not in self._raised \
                    and handle.seq not in self._void:
                raise await self._fail(handle, error)
            self._settled += 1

    async def finish(self, result: Any) -> Any:
        try:
            await self.barrier()
            return await self.wait(result)
        except BaseException as exc:
            raise await self.abort(exc)  # noqa: B904  (re-raises the same exception)

    async def abort(self, exc: BaseException) -> BaseException:  # type: ignore[override]
        if id(exc) not in self._raised and isinstance(exc, Exception):
            # the plan's own code raised: eager would have run every earlier call first
            try:
                await self.barrier()
            except Exception as earlier:
                exc = earlier
            else:
                return exc
        self._cancel_from(0, exc)
        await self._drain()
        return exc

    # -- failures ------------------------------------------------------------------------------

    async def _fail(self, handle: Handle, error: BaseException) -> BaseException:
        """The exception to raise now that ``handle`` failed: the first in program order."""
        for earlier in self.handles[self._settled:handle.seq]:
            if not earlier.task.done():
                await asyncio.wait({earlier.task})
            found = self._error_of(earlier)
            if found is not None and id(found) not in self._raised \
                    and earlier.seq not in self._void:
                handle, error = earlier, found
                break
        self._raised.add(id(error))
        self._void.update(range(handle.seq + 1, len(self.handles)))
        self._cancel_from(handle.seq + 1, error)
        if isinstance(error, Exception) and not isinstance(error, ExecutionTimeoutError):
            origin = next((h for h in self.handles[:handle.seq]
                           if h.task.done() and self._error_of(h) is error), handle)
            self.note(error, origin.op)
        return error

    def _cancel_from(self, start: int, error: BaseException) -> None:
        for handle in self.handles[start:]:
            # once only: a second cancel would interrupt a task waiting for its worker thread
            if not handle.task.done() and handle.seq not in self._cancelled:
                self._cancelled[handle.seq] = error
                handle.task.cancel()

    def _error_of(self, handle: Handle) -> BaseException | None:
        task = handle.task
        if task.cancelled():
            return self._cancelled.get(handle.seq) or asyncio.CancelledError()
        return task.exception()

    async def _drain(self) -> None:
        """Wait (bounded by the timeout) until every task has settled and every worker thread
        a cancelled task left behind has returned: nothing the run started outlives it."""
        pending: set[asyncio.Future[Any]] = {h.task for h in self.handles if not h.task.done()}
        pending |= {asyncio.wrap_future(h.thread) for h in self.handles
                    if h.thread is not None and not h.thread.done()}
        if pending:
            done, _ = await asyncio.wait(pending, timeout=self.timeout)
            for future in done:  # the run already raised: a later failure is only settled
                if not future.cancelled():
                    future.exception()


async def _future(fut: asyncio.Future[Any]) -> Any:
    return await fut
