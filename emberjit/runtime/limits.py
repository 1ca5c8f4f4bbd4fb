"""``execution_options(max_concurrency=N)``: at most N operator calls in flight.

The bound holds for one top-level call of a jitted operator, nested plans included: the top-level
dispatch opens a :func:`scope` (a semaphore in a context variable, which worker threads and
asyncio tasks inherit), and each leaf call takes a slot while it runs. A call made while its
context already holds a slot (an operator called inside a bounded call) takes none, so nested
plans never wait for slots their own callers hold: no deadlock, whatever N is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

__all__ = ["abounded", "async_limit", "bounded", "scope", "thread_limit"]

_threads: contextvars.ContextVar[threading.BoundedSemaphore | None] = contextvars.ContextVar(
    "emberjit_limit_threads", default=None)
_async: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar(
    "emberjit_limit_async", default=None)
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("emberjit_holding",
                                                                default=False)


@contextlib.contextmanager
def scope(max_concurrency: int | None, kind: str) -> Iterator[None]:
    """Open the bound for one top-level call (``kind`` "threads" or "async"); nested calls
    reuse the one already open."""
    var: contextvars.ContextVar[Any] = _async if kind == "async" else _threads
    if max_concurrency is None or var.get() is not None:
        yield
        return
    sem = asyncio.Semaphore(max_concurrency) if kind == "async" else \
        threading.BoundedSemaphore(max_concurrency)
    token = var.set(sem)
    try:
        yield
    finally:
        var.reset(token)


def thread_limit() -> threading.BoundedSemaphore | None:
    """The open bound for thread-run calls, unless this context already holds a slot."""
    return None if _holding.get() else _threads.get()


def async_limit() -> asyncio.Semaphore | None:
    """The open bound for async-run calls, unless this context already holds a slot."""
    return None if _holding.get() else _async.get()


def bounded(sem: threading.BoundedSemaphore, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` taking a slot of ``sem`` while it runs (called in the task's own context)."""
    def call(arg: Any) -> Any:
        with sem:
            _holding.set(True)
            try:
                return fn(arg)
            finally:
                _holding.set(False)
    return call


async def abounded(sem: asyncio.Semaphore,
                   make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Await ``make()`` holding a slot of ``sem`` (inside the calling task's context)."""
    async with sem:
        _holding.set(True)
        try:
            return await make()
        finally:
            _holding.set(False)
