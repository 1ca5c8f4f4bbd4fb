"""Trace and enhanced mode, the jit's strategies that learn from a run.

Trace mode at run time: :class:`TraceRunner` traces, checks the input guard, re-traces.

A trace-mode :class:`~emberjit.jit.select.Specialization` carries a :class:`LivePlan` whose
function is the runner. The first call (or ``sample_input`` at decoration time) is a recorded
eager run: its result is the real result. Later calls run the traced plan when the input's
structure and the called sub-operators match the trace, else re-trace (a guard failure and a
recompile in the stats; after ``recompile_limit`` failures the operator runs eagerly).
``force_trace=True`` re-traces every call. Results are never kept between calls, so nothing is
reused or deduplicated (``preserve_stochasticity`` holds by construction).

Enhanced mode at run time: :class:`EnhancedRunner` traces one run (``sample_input`` at jit
time, else the first call, whose result is the real result), then runs the structural plan that
the trace enhanced (:mod:`emberjit.compiler.enhanced`). Its guard (the structural one plus the
traced fan-out sizes) is checked on every call; a failure re-traces and re-specializes.

Both give up after ``recompile_limit`` guard failures by the rule every mode shares
(:func:`emberjit.jit.limit.give_up`). The recorder and the :class:`Trace` it makes live in
:mod:`emberjit.tracing`, below the jit.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import networkx as nx

from ..compiler.build import compile_structural
from ..compiler.enhanced import enhance
from ..compiler.plan import Plan
from ..compiler.trace_plan import compile_trace, unbuildable_reason
from ..operator import call_eager, forward_arguments
from ..tracing import Trace, record
from .limit import give_up
from .stats import registry

__all__ = ["EnhancedRunner", "LivePlan", "TraceRunner", "Traced", "live_plan"]

_LIVE = frozenset({"source", "guards", "graph", "concurrent", "filename", "function_name",
                   "source_sha256", "location", "inline"})


@dataclasses.dataclass(frozen=True)
class Traced:
    """One trace and what came of it: a plan and its guard, or the reason it runs eagerly."""

    trace: Trace
    plan: Plan | None
    guard: Callable[..., str | None] | None
    eager_reason: str | None


class TraceRunner:
    """See the module docstring. ``stats`` is bound by the jit state (``Specialization.bind``)."""

    mode = "trace"

    def __init__(self, owner: Any, config: Any) -> None:
        self.owner = owner
        self.config = config
        self.lock = threading.Lock()
        self.current: Traced | None = None
        self.stats: Any = None
        self.failures = 0
        self.last_failure: str | None = None
        self.gave_up: str | None = None

    # -- calls -------------------------------------------------------------------------------

    def __call__(self, owner: Any, inputs: Any, run: Any) -> Any:
        cur = self.current
        if self.gave_up is not None:
            return call_eager(owner, inputs)
        if cur is None:
            return self.trace(inputs, first=True)
        if self.config.force_trace:
            return self.trace(inputs, first=False)
        if cur.plan is None or cur.guard is None:
            return call_eager(owner, inputs)
        try:
            reason = cur.guard(owner, inputs)
        except Exception as exc:  # a sub-operator path no longer exists
            reason = f"{type(exc).__name__}: {exc}"
        if reason is None:
            if cur.plan.inline:
                run.inline = cur.plan.inline
            args, kwargs = forward_arguments(owner, inputs)  # as the eager call binds them
            return cur.plan.fn(owner, *args, run=run, **kwargs)
        return self._guard_failed(owner, inputs, reason)

    def _guard_failed(self, owner: Any, inputs: Any, reason: str) -> Any:
        self.failures += 1
        self.last_failure = reason
        self._count(guard_failures=1)
        if self.failures > self.config.recompile_limit:
            self.gave_up = give_up(type(owner).__qualname__, self.config, reason, self.stats,
                                   mode=self.mode, stacklevel=4)
            return call_eager(owner, inputs)
        return self.trace(inputs, first=False)

    def trace(self, inputs: Any, first: bool) -> Any:
        """Record one eager run on ``inputs``, build its plan, return the run's real result."""
        result, trace = record(self.owner, inputs)
        start = time.perf_counter()
        traced = self.build(trace, inputs)
        with self.lock:
            self.current = traced
        seconds = time.perf_counter() - start + trace.seconds
        if first:
            self._count(compile_seconds=seconds)
        else:  # the jit state counts this call as a hit of its (unchanged) specialization
            self._count(compiles=1, recompiles=1, cache_misses=1, cache_hits=-1,
                        compile_seconds=seconds)
        return result

    def build(self, trace: Trace, inputs: Any) -> Traced:
        """The plan of ``trace`` (enhanced mode overrides this)."""
        reason = unbuildable_reason(trace)
        if reason is None:
            plan, guard = compile_trace(self.owner, trace, inputs)
            return Traced(trace, plan, guard, None)
        return Traced(trace, None, None, reason)

    def _count(self, **deltas: float) -> None:
        if self.stats is None:
            return
        with registry.lock:
            for key, delta in deltas.items():
                setattr(self.stats, key, getattr(self.stats, key) + delta)

    # -- what explain shows ------------------------------------------------------------------

    def sites(self) -> tuple[str, ...]:
        """explain's call sites: those the trace saw, with its timings."""
        cur = self.current
        if cur is None or self.gave_up is not None:
            return ()
        held = None if cur.plan is not None else f"runs forward eagerly: {cur.eager_reason}"
        return cur.trace.site_lines(held)

    def explanations(self) -> tuple[str, ...]:
        cur = self.current
        if self.gave_up is not None:
            return (self.gave_up,)
        if cur is None:
            return ("not traced yet: the first call is traced (or pass sample_input=)",)
        lines = [f"traced {len(cur.trace.calls)} operator calls "
                 f"({len(cur.trace.top_level())} top-level), critical path "
                 f"{cur.trace.critical_path() * 1e3:.1f} ms of {cur.trace.seconds * 1e3:.1f} ms"]
        if cur.eager_reason is not None:
            lines.append(f"runs forward eagerly: {cur.eager_reason}")
        lines += [str(slow) for slow in cur.trace.slow]
        if self.config.force_trace:
            lines.append("force_trace=True: every call is traced again")
        return tuple(lines)


class LivePlan(Plan):
    """A trace-mode plan: its source, guards and graph are those of the runner's current trace
    (a stub before the first trace). Calling ``fn`` calls the runner."""

    runner: TraceRunner

    def __getattribute__(self, name: str) -> Any:
        if name in _LIVE:
            cur = object.__getattribute__(self, "runner").current
            if cur is not None and cur.plan is not None:
                return getattr(cur.plan, name)
            if cur is not None and name == "concurrent":
                return False  # runs forward eagerly: no scheduler needed
        elif name == "explanations":
            return object.__getattribute__(self, "runner").explanations()
        elif name == "sites":
            return object.__getattribute__(self, "runner").sites()
        return object.__getattribute__(self, name)


def live_plan(owner: Any, runner: TraceRunner) -> LivePlan:
    qualname = f"{type(owner).__qualname__}.forward"
    source = (f"# emberjit plan for {qualname}, mode={runner.mode}: not traced yet, or running "
              "forward eagerly (see explain_jit_selection)\n")
    plan = LivePlan(qualname=qualname, mode=runner.mode, source=source, function_name="",
                    guards=(), graph=nx.DiGraph(), concurrent=True, location="",
                    source_sha256="", filename="", fn=runner)
    object.__setattr__(plan, "runner", runner)
    return plan


class EnhancedRunner(TraceRunner):
    """Enhanced mode (see the module docstring)."""

    mode = "enhanced"

    def build(self, trace: Trace, inputs: Any) -> Traced:
        plan, guard = compile_structural(self.owner, enhance(self.owner, trace,
                                                             self.config.inline_threshold))

        def plan_guard(owner: Any, _inputs: Any) -> str | None:
            return guard(owner)  # type: ignore[no-any-return]

        return Traced(trace, plan, plan_guard, None)

    def sites(self) -> tuple[str, ...]:
        """The structural plan's call sites; its summary adds what the trace measured."""
        cur = self.current
        if cur is None or cur.plan is None or not cur.plan.sites:
            return ()
        *lines, summary = cur.plan.sites
        return (*lines, f"{summary}; by the trace's timings the dataflow ideal is "
                        f"{cur.trace.critical_path() * 1e3:.1f} ms, the traced run took "
                        f"{cur.trace.seconds * 1e3:.1f} ms")

    def explanations(self) -> tuple[str, ...]:
        cur = self.current
        if self.gave_up is not None:
            return (self.gave_up,)
        if cur is None or cur.plan is None:
            return ("not traced yet: the first call is traced (or pass sample_input=)",)
        lines = [f"traced {len(cur.trace.calls)} operator calls "
                 f"({len(cur.trace.top_level())} made by forward), critical path "
                 f"{cur.trace.critical_path() * 1e3:.1f} ms of {cur.trace.seconds * 1e3:.1f} ms"]
        if self.last_failure is not None:
            lines.append(f"re-specialized after a guard failure: {self.last_failure}")
        lines += [str(slow) for slow in cur.trace.slow]
        if self.config.force_trace:
            lines.append("force_trace=True: every call is traced again")
        return (*lines, *cur.plan.explanations)
