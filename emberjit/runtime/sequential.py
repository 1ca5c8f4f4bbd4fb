"""The sequential scheduler: every call runs at once, in program order, on the calling thread.

It is what ``auto`` picks for plans without concurrent calls (a chain costs next to nothing over
calling the operators directly), and the reference the other schedulers are checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..profiling import hooks
from .base import Namer, Run

__all__ = ["DirectRun", "SequentialRun"]


class SequentialRun(Run):
    """Submit is a call; nothing is ever pending, so wait and barrier do nothing.

    A sequential run keeps no state between calls, so the jit layer reuses one per plan.
    """

    __slots__ = ()
    scheduler_name = "sequential"

    def __init__(self, root: str, namer: Namer, route: Mapping[int, Any] | None = None) -> None:
        super().__init__(root, namer, route)

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        try:
            if hooks.active:  # an emberjit.profile is open: record the call
                return hooks.call(op, self.site(), self.target(op) if self.route else op, arg)
            if self.route:
                return self.target(op)(arg)
            return op(arg)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.note(exc, op)
            raise

    def call(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        return self.submit(op, arg)

    def then(self, fn: Callable[..., Any], *values: Any) -> Any:
        return fn(*values)  # nothing is pending: the code runs here, as eager runs it

    def direct(self) -> DirectRun:
        """The same run without routes or profiling: what a chain of leaves runs on."""
        return DirectRun(self.root, self.namer)

    def wait(self, value: Any) -> Any:
        return value

    def barrier(self) -> None:
        return None

    def finish(self, result: Any) -> Any:
        return result

    def abort(self, exc: BaseException) -> BaseException:
        return exc


class DirectRun(SequentialRun):
    """A sequential run whose calls go straight to the operators: no sub-plans to route to, no
    profile open. The jit layer picks it per call; it costs one frame per call over eager."""

    __slots__ = ()

    def submit(self, op: Callable[[Any], Any], arg: Any, *after: Any) -> Any:
        try:
            return op(arg)
        except Exception as exc:
            self.note(exc, op)
            raise

    call = submit  # the same function: a call needed at once costs no extra frame either
