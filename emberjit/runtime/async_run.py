"""The async scheduler: a plan's calls are ``asyncio`` tasks on the caller's event loop.

The plan is the ``async def`` variant of the plan source (:mod:`emberjit.compiler.async_plan`):
``run.submit`` starts a task and returns its :class:`Handle`; ``await run.wait(...)``,
``await run.call(...)``, ``await run.barrier()`` wait. Operators with ``async def forward`` (and
jitted operators, through their own ``acall``) are awaited on the loop, so thousands of calls
can be in flight on one thread; sync operators run off the loop on a thread pool sized for I/O.

Failures have TaskGroup semantics with eager's choice of exception (the policy of :mod:`.order`):
when a call fails, the first failure in program order is raised (earlier calls are waited for
first), every later call is cancelled, and the run waits until every task has settled, so
nothing is left running on the loop when the plan returns or raises. This module supplies how
to wait: ``await`` on the tasks; a call's timeout runs inside its own task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from ..errors import ExecutionTimeoutError
from ..executors import get_pool, off_loop_executor
from ..operator import CallArgs, Operator, has_async_forward, is_pure
from ..profiling import Site, hooks
from . import handles
from .base import CODE, Continuation, Namer, Run, describe_operator
from .early import Deferred, Failed, Later
from .limits import abounded, async_limit
from .order import ProgramOrder, adrive

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


#: what may hold pending calls (see handles.collect); a call's input of another type holds none
_HOLDS = frozenset({Handle, list, tuple, dict, CallArgs})
_NO_DEPS: list[Handle] = []  # never appended to: submit makes a list of its own when it must


def _handle_value(handle: Handle) -> Any:
    return handle.task.result()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """The run raises a failure itself (the first in program order); the others are settled
    here, so asyncio does not log them as "never retrieved" when the tasks are collected."""
    if not task.cancelled():
        task.exception()


class AsyncRun(Run):
    """One plan invocation on the running event loop. See the module docstring. The
    :class:`~emberjit.runtime.order.Calls` of its policy are its handles."""

    __slots__ = ("_cancelled", "executor", "order", "timeout")
    scheduler_name = "async"

    def __init__(self, root: str, namer: Namer, timeout: float | None,
                 max_workers: int | None = None,
                 route: Mapping[int, Any] | None = None) -> None:
        super().__init__(root, namer, route)
        self.timeout = timeout
        self.executor = off_loop_executor(max_workers)
        self.order: ProgramOrder[Handle] = ProgramOrder()
        self._cancelled: dict[int, BaseException] = {}  # seq -> the failure that cancelled it

    @property
    def handles(self) -> list[Handle]:
        """Every call started, in program order."""
        return self.order.entries

    def site(self) -> Site:
        """Each call is an asyncio task: its own track in a profile."""
        return Site(self.scheduler_name, (self.root, self.namer), task=True)

    def fork(self) -> Run:
        """A block's own run: the block runs off the loop, in a worker thread, so its calls
        go to the thread pool."""
        from .threads import ThreadRun

        return ThreadRun(self.root, self.namer, get_pool(None), self.timeout, self.route)

    # -- starting calls ----------------------------------------------------------------------

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Handle:
        deps: list[Handle] = _NO_DEPS  # (no list made for a call with plain inputs: at 10,000
        if type(arg) in _HOLDS or after:  # calls the garbage collector counts every object)
            deps = []
            handles.collect(arg, Handle, deps)
            for value in after:
                handles.collect(value, Handle, deps)
        if not is_pure(op):
            deps = [*deps, *self.order.impure_deps(self)]
        entries = self.order.entries
        handle = Handle(op, len(entries))
        handle.task = asyncio.get_running_loop().create_task(self._execute(handle, arg, deps))
        handle.task.add_done_callback(_retrieved)
        entries.append(handle)
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
            arg = handles.resolve(arg, Handle, _handle_value)
        if type(op) is Continuation:  # ordinary code of forward: on the loop, like the plan's
            return op(arg)
        limit = async_limit()
        target, plan = async_target(op, self.route)
        if target is not None and limit is None and self.timeout is None and not hooks.active:
            return await target(arg)  # the common case, awaited here: no coroutine in between
        if limit is not None and not plan:  # a leaf call: it takes a slot
            return await abounded(limit, lambda: self._invoke(handle, arg, target))
        return await self._invoke(handle, arg, target)

    async def _invoke(self, handle: Handle, arg: Any,
                      target: Callable[[Any], Any] | None) -> Any:
        if hooks.active and type(handle.op) not in CODE:  # a profile is open: record it
            with hooks.record(handle.op, self.site()):
                return await self._call_op(handle, arg, target)
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
                raise self.order.timed_out(self, handle) from None
            raise

    # -- waiting -------------------------------------------------------------------------------

    async def wait(self, value: Any) -> Any:
        kind = type(value)
        if kind is Handle:
            return await self._result(value)
        if kind is list or kind is dict or kind is tuple:
            for handle in handles.pending(value, Handle):
                await self._result(handle)
            return handles.resolve(value, Handle, _handle_value)
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
        if not task.done() or task.cancelled() or task.exception() is not None:
            error = await adrive(self.order.result(self, handle.seq), self._await)
            if error is not None:
                raise error
        return task.result()

    async def barrier(self) -> None:  # type: ignore[override]
        order = self.order
        if order.settled < len(order.entries):
            error = await adrive(order.barrier(self), self._await)
            if error is not None:
                raise error

    async def finish(self, result: Any) -> Any:
        try:
            await self.barrier()
            return await self.wait(result)
        except BaseException as exc:
            raise await self.abort(exc)  # noqa: B904  (re-raises the same exception)

    async def abort(self, exc: BaseException) -> BaseException:  # type: ignore[override]
        try:
            chosen, cancelled = await adrive(self.order.abort(self, exc), self._await)
        except asyncio.CancelledError:
            # cancelled while it waited for the calls before the failure (a nested plan whose
            # caller failed meanwhile): the cancel goes on, once nothing this run started runs
            self.order.cancel_from(self, 0, exc)
            await _to_the_end(self._drain())
            raise
        if cancelled:
            await _to_the_end(self._drain())
        return chosen

    # -- what the program-order policy asks of the calls (order.Calls) -------------------------

    @staticmethod
    async def _await(handle: Handle) -> bool:
        if not handle.task.done():  # asyncio.wait never cancels what it waits for
            await asyncio.wait({handle.task})
        return True  # a call's timeout is its own task's (see _call_op)

    @staticmethod
    def done(handle: Handle) -> bool:
        return handle.task.done()

    def error(self, handle: Handle) -> BaseException | None:
        task = handle.task
        if task.cancelled():
            return self._cancelled.get(handle.seq) or asyncio.CancelledError()
        return task.exception()

    def cancel(self, entries: Sequence[Handle], error: BaseException) -> None:
        for handle in entries:
            # once only: a second cancel would interrupt a task waiting for its worker thread
            if not handle.task.done() and handle.seq not in self._cancelled:
                self._cancelled[handle.seq] = error
                handle.task.cancel()

    def timeout_error(self, handle: Handle) -> ExecutionTimeoutError:
        assert self.timeout is not None
        return ExecutionTimeoutError(describe_operator(self.root, self.namer, handle.op),
                                     self.timeout)

    def add_note(self, error: BaseException, handle: Handle) -> None:
        self.note(error, handle.op)

    async def _drain(self) -> None:
        """Wait (bounded by the timeout) until every task has settled and every worker thread
        a cancelled task left behind has returned: nothing the run started outlives it."""
        entries = self.order.entries
        pending: set[asyncio.Future[Any]] = {h.task for h in entries if not h.task.done()}
        pending |= {asyncio.wrap_future(h.thread) for h in entries
                    if h.thread is not None and not h.thread.done()}
        if pending:
            done, _ = await asyncio.wait(pending, timeout=self.timeout)
            for future in done:  # the run already raised: a later failure is only settled
                if not future.cancelled():
                    future.exception()


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` to its end even when this task is cancelled meanwhile (as often as it
    is): winding a run down is not interrupted; a cancel that came is raised after it."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


async def _future(fut: asyncio.Future[Any]) -> Any:
    return await fut
