"""The profiling hook protocol: what every runner calls for each operator call (layer 0).

The schedulers, the batch runner and the jit layer check one module-level flag per call
(``hooks.active``), so with no profile open the cost is one attribute read. While a profile is
open, :mod:`emberjit.profile` (which records the calls and writes the trace) has installed its
:class:`Recorder`, and every runner records a call the same way: ``with hooks.record(op,
site):`` around it (``hooks.call(op, site, fn, arg)`` for a plain function call), in the call's
own context, where the profile is found. Calls no runner makes (in a plan's own code, in program
order, or inside an operator that runs eagerly) are recorded by ``Operator.__call__`` through
``hooks.entered(op)``; a plan's code runs inside ``hooks.plan(label)``, which names them. The
:class:`Site` says who makes the call, as the profile names it. This module imports nothing of
emberjit's: the runtime below the profiler calls it without knowing the profiler.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Hooks", "Label", "Recorder", "Site", "hooks"]

#: ``(plan root, namer)``: the call's operator path is ``namer(op)`` inside the plan ``root``;
#: or a name of its own (a batch input: ``Answer[3]``)
Label = tuple[str, Callable[[object], str]] | str


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """Who makes a call: the scheduler (``threads``, ``async``, ``sequential``, ``map``), the
    label that names it, and whether it runs in an asyncio task (then the task is its track:
    tasks on one loop thread overlap, and a trace track must nest)."""

    scheduler: str
    label: Label
    task: bool = False


class Recorder(Protocol):
    """What records the calls while a profile is open (see :mod:`emberjit.profile`)."""

    def record(self, op: object, site: Site) -> AbstractContextManager[None]:
        """A context around one call of ``op``, recorded when the current context has a
        profile; the calls made inside are its children."""

    def entered(self, op: object) -> AbstractContextManager[None]:
        """A context around ``op(x)`` itself (``Operator.__call__``): recorded unless a runner
        records this very call already; a call made outside any plan or call is the root its
        calls are named after."""

    def plan(self, label: Label) -> AbstractContextManager[None]:
        """A context around a plan's own code: operator calls it makes in place (in program
        order, not through its run) are named by ``label``, like the run's calls."""

    def served(self, op: object, how: str) -> None:
        """The call of ``op`` being recorded here did not run: ``how`` it was served
        (``"hit"``: from the result cache; ``"merged"``: an identical call in flight's)."""


class Hooks:
    """What the runners call. ``active`` is True while any profile is open (in any
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

    def record(self, op: object, site: Site) -> AbstractContextManager[None]:
        """The one hook: ``with hooks.record(op, site):`` around a call of ``op``."""
        recorder = self.recorder
        assert recorder is not None, "a profile hook was called before any profile opened"
        return recorder.record(op, site)

    def entered(self, op: object) -> AbstractContextManager[None]:
        """``with hooks.entered(op):`` around every ``op(x)`` (see :meth:`Recorder.entered`)."""
        recorder = self.recorder
        assert recorder is not None, "a profile hook was called before any profile opened"
        return recorder.entered(op)

    def plan(self, label: Label) -> AbstractContextManager[None]:
        """``with hooks.plan((root, namer)):`` around a plan's own code."""
        recorder = self.recorder
        assert recorder is not None, "a profile hook was called before any profile opened"
        return recorder.plan(label)

    def served(self, op: object, how: str) -> None:
        """The call of ``op`` recorded here was served without running (see Recorder)."""
        recorder = self.recorder
        if recorder is not None:
            recorder.served(op, how)

    def call(self, op: object, site: Site, fn: Callable[[Any], Any], arg: Any) -> Any:
        """``fn(arg)`` for ``op``, recorded (:meth:`record` around a plain call)."""
        with self.record(op, site):
            return fn(arg)


#: The runners' hook; see :class:`Hooks`.
hooks = Hooks()
