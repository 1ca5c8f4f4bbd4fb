"""One execution for identical calls in flight: calls with equal keys that run at the same time
share the first one's execution, and each caller gets its own copy of the result.

The first caller of a key runs the call; a caller that comes while it runs waits for it (a
thread blocks, a task awaits) and gets a deep copy of its result, or its exception. Two calls
never wait for each other in a cycle: a call made inside the execution of an equal call (a
recursion) runs on its own, and so does a blocking wait asked for on an event loop's thread
(the execution it would wait for may need that loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

__all__ = ["Flights", "flights"]

#: the keys whose execution this context is inside of
_inside: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "emberjit_inside_keys", default=frozenset())


class Flights:
    """The calls in flight, by key; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Future[Any]] = {}

    def run(self, key: str, call: Callable[[], Any]) -> tuple[Any, bool]:
        """``(result, merged)``: ``call()``'s result, or a copy of an equal call's in flight."""
        if key in _inside.get():  # an equal call is running around this one: never wait on it
            return call(), False
        flight, lead = self._join(key)
        if not lead:
            if asyncio._get_running_loop() is not None:  # never block a loop's thread
                return call(), False
            return copy.deepcopy(flight.result()), True
        token = _inside.set(_inside.get() | {key})
        try:
            value = call()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            _inside.reset(token)
            self._land(key)
        flight.set_result(value)
        return value, False

    async def arun(self, key: str, call: Callable[[], Coroutine[Any, Any, Any]]
                   ) -> tuple[Any, bool]:
        """:meth:`run` for an awaited call."""
        if key in _inside.get():
            return await call(), False
        flight, lead = self._join(key)
        if not lead:
            return copy.deepcopy(await asyncio.wrap_future(flight)), True
        token = _inside.set(_inside.get() | {key})
        try:
            value = await call()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            _inside.reset(token)
            self._land(key)
        flight.set_result(value)
        return value, False

    def _join(self, key: str) -> tuple[Future[Any], bool]:
        """The flight of ``key`` and whether this caller leads it (runs the call)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Future()
            flight.set_running_or_notify_cancel()
            return flight, True

    def _land(self, key: str) -> None:
        with self._lock:
            self._flights.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)


#: the process's calls in flight
flights = Flights()
