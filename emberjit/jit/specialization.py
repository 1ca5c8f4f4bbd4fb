"""``Specialization``: what a jitted operator runs, behind which guard, and why.

Every mode makes one: structural mode from the source, trace and enhanced mode from a traced run
(:mod:`.tracemodes`), AOT from a stored plan (:mod:`.aot_plans`), and "eager" when nothing is
worth a plan. The jit state (:mod:`.state`) checks its guards on every call; a failing guard is
one path for every mode (:mod:`.specialize`): count it, re-specialize, or past the recompile
limit run eagerly.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

from ..compiler.plan import Plan
from ..tracing import Trace

__all__ = ["Guard", "Specialization", "code_guard"]

#: ``guard(owner)`` (``guard()`` for a function): None while the plan still fits, else why not
Guard = Callable[..., str | None]


@dataclasses.dataclass(frozen=True)
class Specialization:
    """What a jitted operator runs: ``plan`` (None: the original code, eagerly)."""

    mode: str  # "structural", "trace", "enhanced", "eager"
    plan: Plan | None
    guard: Guard
    reasons: tuple[str, ...]
    fallback_reasons: tuple[str, ...] = ()
    origin: str = "jit"
    fallback: bool = False  # the recompile limit was reached
    #: trace and enhanced mode: the strategy that learns a specialization from one traced run
    #: (:class:`~emberjit.jit.tracemodes.Learner`); until it has (``trace is None``), the next
    #: call with one input is the traced run
    learner: Any = None
    trace: Trace | None = None  # the run it learned from
    #: trace mode: what the plan assumes of a call's input (None when it fits, else why not)
    input_guard: Callable[[Any, Any], str | None] | None = None
    sites: tuple[str, ...] = ()  # explain's call sites when there is no plan (an eager trace)
    #: an eager decision's assumption about the instance: the kinds of its operator attributes
    #: (a plan's is its own record's: ``plan.code.shape``)
    shape: tuple[tuple[str, str], ...] = ()

    @property
    def assumed_shape(self) -> tuple[tuple[str, str], ...]:
        """The kinds of operator attributes an instance must have for this to serve it."""
        return self.plan.code.shape if self.plan is not None else self.shape

    @property
    def untraced(self) -> bool:
        """A trace or enhanced specialization that has not seen a run yet."""
        return self.learner is not None and self.trace is None

    @staticmethod
    def eager(name: str, reasons: list[str], fallback: bool = False,
              owner: Any = None) -> Specialization:
        guard = code_guard(owner) if owner is not None else _always
        return Specialization("eager", None, guard, tuple(reasons),
                              tuple(reasons) if fallback else (), fallback=fallback)


def _always(*_: Any) -> str | None:
    return None


def code_guard(owner: Any) -> Guard:
    """For a decision that does not read the source: re-decide when forward's code changes."""
    if isinstance(owner, types.FunctionType):
        code = owner.__code__
        return lambda: None if owner.__code__ is code else "the function's code changed"
    cls: Any = owner if isinstance(owner, type) else type(owner)  # a class: emberjit.aot
    forward_code = getattr(cls.forward, "__code__", None)

    def guard(self: Any) -> str | None:
        if getattr(type(self).forward, "__code__", None) is forward_code:
            return None
        return "type(self).forward changed"
    return guard
