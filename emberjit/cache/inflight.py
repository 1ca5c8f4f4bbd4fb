"""One execution for identical calls in flight: calls with equal keys that run at the same time
share the first one's execution, and each caller gets its own copy of the result.

The first caller of a key runs the call; a caller that comes while it runs waits for it (a
thread blocks, a task awaits) and gets a deep copy of its result, or its exception. When anyone
waited, the first caller gets a copy too (the waiters copy the result while the first caller may
already be changing its own). A first caller that is cancelled (a task's timeout, Ctrl-C) or
killed by any other ``BaseException`` that is not an error of the call abandons the flight: the
waiters do not inherit its cancellation, they start the call again (one of them leads). A result
that cannot be copied (it holds a lock) stays the first caller's: each waiter runs the call on
its own. Two calls
never wait for each other in a cycle: a call made inside the execution of an equal call (a
recursion) runs on its own, and so does a blocking wait asked for on an event loop's thread
(the execution it would wait for may need that loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any

__all__ = ["Flights", "flights"]

#: the keys whose execution this context is inside of
_inside: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "emberjit_inside_keys", default=frozenset())
#: a flight's result when its first caller was cancelled: the waiters start it again
_ABANDONED: Any = object()


class _Flight:
    __slots__ = ("future", "waiters")

    def __init__(self) -> None:
        self.future: Future[Any] = Future()
        self.future.set_running_or_notify_cancel()
        self.waiters = 0


class Flights:
    """The calls in flight, by key; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def run(self, key: str, call: Callable[[], Any]) -> tuple[Any, bool]:
        """``(result, merged)``: ``call()``'s result, or a copy of an equal call's in flight."""
        if key in _inside.get():  # an equal call is running around this one: never wait on it
            return call(), False
        while True:
            flight, lead = self._join(key)
            if lead:
                with self._leading(key, flight):
                    value = call()
                return self._land(key, flight, value), False
            if asyncio._get_running_loop() is not None:  # never block a loop's thread
                return call(), False
            value = flight.future.result()
            if value is not _ABANDONED:
                copied = _copy(value)
                return (copied, True) if copied is not _ABANDONED else (call(), False)

    async def arun(self, key: str, call: Callable[[], Coroutine[Any, Any, Any]]
                   ) -> tuple[Any, bool]:
        """:meth:`run` for an awaited call."""
        if key in _inside.get():
            return await call(), False
        while True:
            flight, lead = self._join(key)
            if lead:
                with self._leading(key, flight):
                    value = await call()
                return self._land(key, flight, value), False
            value = await asyncio.wrap_future(flight.future)
            if value is not _ABANDONED:
                copied = _copy(value)
                return (copied, True) if copied is not _ABANDONED else (await call(), False)

    @contextlib.contextmanager
    def _leading(self, key: str, flight: _Flight) -> Iterator[None]:
        """Around the lead's execution: calls inside it with this key run on their own, and its
        failure (or its cancellation) ends the flight."""
        token = _inside.set(_inside.get() | {key})
        try:
            yield
        except BaseException as exc:
            self._fail(key, flight, exc)
            raise
        finally:
            _inside.reset(token)

    def _join(self, key: str) -> tuple[_Flight, bool]:
        """The flight of ``key`` and whether this caller leads it (runs the call)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                flight.waiters += 1
                return flight, False
            flight = self._flights[key] = _Flight()
            return flight, True

    def _take_off(self, key: str, flight: _Flight) -> int:
        """End ``key``'s flight for new callers; how many callers wait on it."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
            return flight.waiters

    def _land(self, key: str, flight: _Flight, value: Any) -> Any:
        """The lead's result to its waiters; the lead's own (a copy when anyone waits)."""
        waiters = self._take_off(key, flight)
        flight.future.set_result(value)
        copied = _copy(value) if waiters else _ABANDONED
        return copied if copied is not _ABANDONED else value

    def _fail(self, key: str, flight: _Flight, exc: BaseException) -> None:
        self._take_off(key, flight)
        if isinstance(exc, Exception):
            flight.future.set_exception(exc)
        else:  # cancelled or interrupted: not the call's outcome, the waiters run it again
            flight.future.set_result(_ABANDONED)

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)


def _copy(value: Any) -> Any:
    """A deep copy of ``value``, or ``_ABANDONED`` when it cannot be copied (a result holding
    a lock): then each caller runs the call on its own."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return _ABANDONED


#: the process's calls in flight
flights = Flights()
