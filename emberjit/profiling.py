"""The profiling hook protocol: what the schedulers call for each operator call (layer 0).

The schedulers, the batch runner and the jit layer check one module-level flag per call
(``hooks.active``), so with no profile open the cost is one attribute read. While a profile is
open, :mod:`emberjit.profile` (which records the calls and writes the trace) has installed its
:class:`Recorder`, and the schedulers' calls go through it. This module imports nothing of
emberjit's: the runtime below the profiler calls it without knowing the profiler.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Hooks", "Recorder", "hooks"]


class Recorder(Protocol):
    """What records the calls while a profile is open (see :mod:`emberjit.profile`)."""

    def on_submit(self, task: Any) -> None:
        """The thread pool got ``task`` from a run: remember which run, to name the call."""

    def run_task(self, task: Any, arg: Any) -> Any:
        """Run a pool task in its own context, recorded when its context has a profile."""

    async def acall(self, run: Any, op: object, make: Callable[[], Awaitable[Any]]) -> Any:
        """Await ``make()`` for ``op`` in an asyncio task (async scheduler), recorded."""

    def call(self, run: Any, op: object, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Run ``fn(arg)`` for ``op`` on the calling thread (sequential scheduler), recorded."""

    def batch_item(self, op: object, fn: Callable[[Any], Any], arg: Any, label: str) -> Any:
        """Run one input of a batch: ``fn(arg)`` for ``op``, recorded."""


class Hooks:
    """What the schedulers call. ``active`` is True while any profile is open (in any
    thread); ``recorder`` is then the profiler's."""

    __slots__ = ("_lock", "_open", "active", "recorder")

    def __init__(self) -> None:
        self.active = False
        self.recorder: Recorder | None = None
        self._open = 0
        self._lock = threading.Lock()

    def opened(self, recorder: Recorder) -> None:
        with self._lock:
            self._open += 1
            self.recorder = recorder
            self.active = True

    def closed(self) -> None:
        with self._lock:
            self._open -= 1
            self.active = self._open > 0

    def _installed(self) -> Recorder:
        recorder = self.recorder
        assert recorder is not None, "a profile hook was called before any profile opened"
        return recorder

    def on_submit(self, task: Any) -> None:
        self._installed().on_submit(task)

    def run_task(self, task: Any, arg: Any) -> Any:
        return self._installed().run_task(task, arg)

    async def acall(self, run: Any, op: object, make: Callable[[], Awaitable[Any]]) -> Any:
        return await self._installed().acall(run, op, make)

    def call(self, run: Any, op: object, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._installed().call(run, op, fn, arg)

    def batch_item(self, op: object, fn: Callable[[Any], Any], arg: Any, label: str) -> Any:
        return self._installed().batch_item(op, fn, arg, label)


#: The schedulers' hook; see :class:`Hooks`.
hooks = Hooks()
