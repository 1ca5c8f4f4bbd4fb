"""Calls started ahead of the statement that uses them: a loop's calls hoisted out of its body.

``for name, lookup in sources.items(): try: found[name] = lookup(x) except ...: ...`` waits for
each call inside its ``try``, so eager runs them one after another. The plan starts every
iteration's call before the loop (``run.early``), then runs the loop as written, taking each
result where the body used the call (``run.take``): the failure of a call is raised there,
inside its ``try``, exactly where eager raised it, and never before (a barrier or the plan's end
does not raise it; a call the plan never takes is settled and forgotten, as one eager never
made). Only pure calls start early; an impure operator's call is made where it was written.
Each iteration's call is started by a small function of the loop's variables (``run.ahead``),
which first computes the assignments its input needs (``q = f"facts about {e}"``); an error
computing them is kept and raised where the loop reaches the call. A call whose input reads the
result of an earlier one (``s = self.summarize(r["text"])``) starts when that call finishes
(``run.early_after``), before the loop reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Captured", "Chained", "Deferred", "Failed", "Later", "Outcome"]


class Outcome:
    """What an early call did: its value, or the exception it raised (and which operator)."""

    __slots__ = ("error", "op", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None,
                 op: object = None) -> None:
        self.value, self.error, self.op = value, error, op


class Captured:
    """``op(arg)`` as a task that never fails: its exception is kept in the :class:`Outcome`
    for ``run.take`` to raise where the plan uses the call."""

    __slots__ = ("fn", "op")
    pure = True

    def __init__(self, fn: Callable[[Any], Any], op: object) -> None:
        self.fn, self.op = fn, op

    def __call__(self, arg: Any) -> Outcome:
        try:
            return Outcome(self.fn(arg))
        except Exception as exc:
            return Outcome(error=exc, op=self.op)

    def __repr__(self) -> str:
        return f"<early call of {self.op!r}>"


class Failed:
    """An iteration whose call's input could not be computed before the loop (``e["name"]``
    on an entity without one): ``run.take`` raises the error where the loop reaches the call,
    which is where eager raised it, inside the ``try`` that handles it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class Chained:
    """``call(make_input(*values))`` (``call`` a :class:`Captured`) once the early calls whose
    results its input reads have finished (a loop's ``s = self.summarize(r["text"])`` after
    ``r = self.search(e)``): never fails, like :class:`Captured`. When one of those calls
    failed, that failure is its outcome (the loop raises at that call first and never takes
    this one); an error computing the input is kept for ``run.take`` to raise as the user's own
    code's."""

    __slots__ = ("call", "make_input")
    pure = True

    def __init__(self, call: Captured, make_input: Callable[..., Any]) -> None:
        self.call, self.make_input = call, make_input

    @property
    def op(self) -> object:
        return self.call.op

    def __call__(self, outcomes: tuple[Outcome, ...]) -> Outcome:
        for outcome in outcomes:
            if outcome.error is not None:
                return outcome
        try:
            arg = self.make_input(*(o.value for o in outcomes))
        except Exception as exc:
            return Outcome(error=exc)
        return self.call(arg)

    def __repr__(self) -> str:
        return f"<early call of {self.op!r} after earlier ones>"


class Later:
    """A chained call not started early (its operator is impure, or a call it reads was not
    started early): ``run.take`` makes it in its place, with the input the plan computes
    there."""

    __slots__ = ("op",)

    def __init__(self, op: Callable[[Any], Any]) -> None:
        self.op = op


class Deferred:
    """An impure operator's call, not started early: ``run.take`` makes it in its place."""

    __slots__ = ("arg", "op")

    def __init__(self, op: Callable[[Any], Any], arg: Any) -> None:
        self.op, self.arg = op, arg
