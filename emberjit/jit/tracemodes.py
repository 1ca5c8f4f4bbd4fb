"""Trace and enhanced mode: the jit's strategies that learn a specialization from a run.

A :class:`Learner` starts *untraced* (:meth:`Learner.pending`); the jit state runs the next call
with one input as the traced run (:func:`emberjit.tracing.record`: an eager run, whose result is
the call's real result) and swaps in what :meth:`Learner.learn` made of it: an ordinary
:class:`~emberjit.jit.specialization.Specialization` with an ordinary plan.

- Trace mode: the plan replays the traced path (:mod:`emberjit.compiler.trace_plan`); its input
  guard checks each call's input against the structure the trace saw, its guard that the
  sub-operators are the traced ones. A trace that glue code built arguments for runs forward
  eagerly, and explain names the call.
- Enhanced mode (:class:`EnhancedLearner`): the structural plan, enhanced with what the trace
  showed (:mod:`emberjit.compiler.enhanced`: open call sites resolved, fan-out sizes behind a
  length guard, cheap calls inline).

A failing guard takes the path every mode takes (:mod:`emberjit.jit.specialize`): a guard failure
and a recompile in the stats, a new untraced specialization whose next call traces again, and
past ``recompile_limit`` an eager fallback. ``force_trace=True`` re-traces every call. Results
are never kept between calls, so nothing is reused or deduplicated (``preserve_stochasticity``
holds by construction). The recorder and the :class:`Trace` live in :mod:`emberjit.tracing`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..compiler.build import compile_structural
from ..compiler.enhanced import enhance
from ..compiler.trace_plan import compile_trace, unbuildable_reason
from ..tracing import Trace, record
from .specialization import Specialization, code_guard

if TYPE_CHECKING:
    from .state import JitConfig

__all__ = ["EnhancedLearner", "Learner"]


class Learner:
    """Trace mode's strategy for one operator instance (see the module docstring)."""

    mode = "trace"

    def __init__(self, owner: Any, config: JitConfig, reasons: tuple[str, ...]) -> None:
        self.owner, self.config, self.reasons = owner, config, reasons
        forward = code_guard(owner)

        def guard(self_: Any) -> str | None:
            return "another instance" if self_ is not owner else forward(self_)

        self.guard = guard

    def pending(self) -> Specialization:
        """Before a run is traced: the next call traces."""
        return Specialization(self.mode, None, self.guard, self.reasons, learner=self)

    def learn(self, inputs: Any, last_failure: str | None) -> tuple[Any, Specialization, float]:
        """Trace one eager run on ``inputs``: (its real result, what was learned, the seconds
        it cost to learn: the traced run and building its plan)."""
        result, trace = record(self.owner, inputs)
        start = time.perf_counter()
        spec = self.build(trace, inputs, last_failure)
        return result, spec, time.perf_counter() - start + trace.seconds

    def build(self, trace: Trace, inputs: Any, last_failure: str | None) -> Specialization:
        notes = self.notes(trace)
        reason = unbuildable_reason(trace)
        if reason is not None:
            eager = f"runs forward eagerly: {reason}"
            return Specialization(self.mode, None, self.guard, (*self.reasons, *notes, eager),
                                  learner=self, trace=trace, sites=trace.site_lines(eager))
        plan, input_guard = compile_trace(self.owner, trace, inputs)
        plan = plan.with_notes(notes, trace.site_lines(None))
        return Specialization(self.mode, plan, self.guard, self.reasons, learner=self,
                              trace=trace, input_guard=input_guard)

    def notes(self, trace: Trace, made_by: str = "top-level") -> tuple[str, ...]:
        """What explain says of the traced run."""
        lines = [f"traced {len(trace.calls)} operator calls ({len(trace.top_level())} "
                 f"{made_by}), critical path {trace.critical_path() * 1e3:.1f} ms of "
                 f"{trace.seconds * 1e3:.1f} ms", *(str(slow) for slow in trace.slow)]
        if self.config.force_trace:
            lines.append("force_trace=True: every call is traced again")
        return tuple(lines)


class EnhancedLearner(Learner):
    """Enhanced mode: the structural plan, enhanced by the trace; its guard is the structural
    one (with the traced fan-out sizes) as well as the trace's."""

    mode = "enhanced"

    def build(self, trace: Trace, inputs: Any, last_failure: str | None) -> Specialization:
        plan, structural = compile_structural(self.owner, enhance(
            self.owner, trace, self.config.inline_threshold))
        notes = self.notes(trace, "made by forward")
        if last_failure is not None:
            notes = (notes[0], f"re-specialized after a guard failure: {last_failure}",
                     *notes[1:])
        *lines, summary = plan.sites or ("",)
        sites = (*lines, f"{summary}; by the trace's timings the dataflow ideal is "
                         f"{trace.critical_path() * 1e3:.1f} ms, the traced run took "
                         f"{trace.seconds * 1e3:.1f} ms") if plan.sites else ()
        plan = plan.with_notes((*notes, *plan.explanations), sites)
        traced = self.guard

        def guard(self_: Any) -> str | None:
            return traced(self_) or structural(self_)

        return Specialization(self.mode, plan, guard, self.reasons, learner=self, trace=trace)
