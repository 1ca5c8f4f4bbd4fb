"""Choosing how to run an operator: the mode decision and its reasons.

``decide`` returns a :class:`Specialization`: a plan (with its guard) or "eager", with the mode
and the reasons, which ``explain_jit_selection`` prints.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..compiler import Plan, analyze, compile_structural
from ..errors import EmberJitError, StructuralAnalysisError

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["Specialization", "decide"]

Guard = Callable[..., str | None]


@dataclasses.dataclass(frozen=True)
class Specialization:
    """What a jitted operator runs: ``plan`` (None: the original code, eagerly)."""

    mode: str  # "structural", "eager", ...
    plan: Plan | None
    guard: Guard
    reasons: tuple[str, ...]
    fallback_reasons: tuple[str, ...] = ()
    origin: str = "jit"
    fallback: bool = False  # the recompile limit was reached

    @staticmethod
    def eager(name: str, reasons: list[str], fallback: bool = False,
              owner: Any = None) -> Specialization:
        guard = _code_guard(owner) if owner is not None else _always
        return Specialization("eager", None, guard, tuple(reasons),
                              tuple(reasons) if fallback else (), fallback=fallback)


def _always(*_: Any) -> str | None:
    return None


def _code_guard(owner: Any) -> Guard:
    """For an eager decision: re-decide when forward's code changes."""
    if isinstance(owner, types.FunctionType):
        code = owner.__code__
        return lambda: None if owner.__code__ is code else "the function's code changed"
    forward_code = getattr(type(owner).forward, "__code__", None)

    def guard(self: Any) -> str | None:
        if getattr(type(self).forward, "__code__", None) is forward_code:
            return None
        return "type(self).forward changed"
    return guard


def _not_yet(mode: str) -> EmberJitError:
    return EmberJitError(
        f"mode={mode!r} needs trace mode, which this build does not have yet; use "
        "mode='structural' or mode='auto'")


def decide(owner: Any, config: JitConfig) -> Specialization:
    """The specialization for ``owner`` under ``config`` (compiles when a plan is chosen)."""
    mode = config.mode
    if mode in ("trace", "enhanced") or config.force_trace or config.sample_input is not None:
        raise _not_yet(mode if mode in ("trace", "enhanced") else "trace")
    if mode == "auto" or config.child:
        try:
            skeletons, _ = analyze(owner)
        except StructuralAnalysisError as exc:
            return Specialization.eager(_name(owner), [
                f"auto: no usable source, kept eager: {exc.reason}"], owner=owner)
        if not any(s.calls for sk in skeletons for s in sk.all_statements()):
            return Specialization.eager(_name(owner), [
                "auto: a leaf (no operator calls in forward): jit would only add cost"],
                owner=owner)
    plan, guard = compile_structural(owner)
    reasons = ["structural: the source resolves every operator call"
               if mode != "structural" else "structural: requested"]
    return Specialization("structural", plan, guard, tuple(reasons))


def _name(owner: Any) -> str:
    return str(getattr(owner, "__qualname__", type(owner).__qualname__))
