"""``explain_jit_selection``: what a jitted operator's plan does and why, in one report: the mode
and why it was chosen, every call site (concurrent, dependent, held back), what stayed
sequential, the sub-plans, which calls the result cache may serve, the guards and the steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..cache.policy import decide
from ..operator import Operator, impure_reason
from ..options import current
from ..runtime import scheduler_for
from .api import _spec_of, state_of
from .state import JitState

__all__ = ["Explanation", "explain_jit_selection"]


@dataclasses.dataclass(frozen=True)
class Explanation:
    """What ``explain_jit_selection`` returns; ``str()`` is the report."""

    name: str
    mode: str
    reasons: tuple[str, ...]
    scheduler: str
    sequential: tuple[str, ...]
    guards: tuple[str, ...]
    table: str
    #: every call site: concurrent, dependent (on which value, from which line) or held back
    #: (the line and the reason); the last line sums them up
    sites: tuple[str, ...] = ()
    #: sub-operators that run plans of their own (``recursive=True``), one line each: its
    #: path, mode, scheduler and what it runs concurrently (their own explain says the rest)
    sub_plans: tuple[str, ...] = ()
    #: whether the result cache may serve the operator's own calls and each sub-operator's,
    #: and if not, why (see docs/caching.md)
    result_cache: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"{self.name}: mode {self.mode}, scheduler {self.scheduler}"]
        lines += [f"  why: {r}" for r in self.reasons]
        if self.sub_plans:
            lines += ["  sub-plans (each runs on the scheduler it picks):"]
            lines += [f"    {s}" for s in self.sub_plans]
        if self.sites:
            lines += ["  call sites:"] + [f"    {s}" for s in self.sites[:-1]]
            lines += [f"  {self.sites[-1]}"]
        held = tuple(s for s in self.sites[:-1] if ": held back" in s)
        lines += ["  kept sequential / barriers:"] + [f"    {s}" for s in self.sequential or
                                                       held or ("none",)]
        if self.result_cache:
            lines += ["  result cache (when one is on):"]
            lines += [f"    {r}" for r in self.result_cache]
        lines += ["  guards:"] + [f"    {g}" for g in self.guards or ("none",)]
        if self.table:
            lines += ["  steps:"] + [f"    {row}" for row in self.table.splitlines()]
        return "\n".join(lines)


def explain_jit_selection(op: Any) -> Explanation:
    """The chosen mode and why; every call site, each ``concurrent``, ``dependent`` (on which
    value, from which line) or ``held back`` (the line and the reason), and a summary line
    (``Explanation.sites``); what stayed sequential and why; the guards; the steps."""
    state = state_of(op)
    if state is None:
        raise TypeError(f"{type(op).__qualname__} is not jitted: call jit() on it first")
    spec = _spec_of(state)
    plan = spec.plan
    concurrent = plan.concurrent if plan is not None else False
    ordered = () if plan is None else _derived_impure(state.owner)
    return Explanation(
        name=state.root, mode=spec.mode, reasons=spec.reasons,
        scheduler=scheduler_for(current(), concurrent) if plan is not None else "none (eager)",
        sequential=(*plan.explanations, *ordered) if plan is not None else (),
        guards=plan.guards if plan is not None else (), table=plan.table() if plan else "",
        sites=plan.sites if plan is not None else spec.sites,
        sub_plans=_sub_plans(state) if plan is not None else (),
        result_cache=_result_cache(state))


def _result_cache(state: JitState) -> tuple[str, ...]:
    """Which calls the result cache may serve: the operator's own, and each sub-operator's
    (a cached call of the operator runs none of them); why not, where not."""
    owner = state.owner
    if not isinstance(owner, Operator):
        return ()
    lines = []
    for path, op in [("", owner), *owner.sub_operators()]:
        _, reason = decide(op)
        name = f"self.{path} ({type(op).__qualname__})" if path else f"{state.root} itself"
        lines.append(f"{name}: " + ("cacheable" if reason is None else f"not cached: {reason}"))
    if len(lines) > 12:
        lines[11:] = [f"... and {len(lines) - 11} more sub-operators"]
    return tuple(lines)


def _sub_plans(state: JitState) -> tuple[str, ...]:
    """One line per routed sub-operator with a plan: what it runs, compiled now if needed."""
    lines = []
    for child in list(state.route.values()):
        sub = _spec_of(child).plan
        if sub is None:
            continue
        summary = sub.sites[-1] if sub.sites else ""
        lines.append(f"self.{state.path_of(child.owner) or child.root} ({child.root}): mode "
                     f"{sub.mode}, scheduler {scheduler_for(current(), sub.concurrent)}"
                     + (f"; {summary}" if summary else ""))
    return tuple(sorted(lines))


def _derived_impure(owner: Any) -> tuple[str, ...]:
    """Sub-operators that do not say ``pure = False`` but hold one that does: their calls keep
    program order like an impure operator's (derived, not declared)."""
    if not isinstance(owner, Operator):
        return ()
    lines = []
    for path, sub in owner.sub_operators():
        reason = impure_reason(sub)
        if reason is not None and getattr(sub, "pure", True):
            lines.append(f"self.{path}: {reason}: its calls keep program order (impure, "
                         "derived)")
    return tuple(lines)
