"""Enhanced mode at run time: :class:`EnhancedRunner` traces one run (``sample_input`` at jit
time, else the first call, whose result is the real result), then runs the structural plan that
the trace enhanced (:mod:`emberjit.compiler.enhanced`). Its guard (the structural one plus the
traced fan-out sizes) is checked on every call; a failure re-traces and re-specializes (a guard
failure and a recompile in the stats; after ``recompile_limit`` failures it runs eagerly), and
explain says why."""

from __future__ import annotations

from typing import Any

from .runner import Traced, TraceRunner
from .trace import Trace

__all__ = ["EnhancedRunner"]


class EnhancedRunner(TraceRunner):
    mode = "enhanced"

    def build(self, trace: Trace, inputs: Any) -> Traced:
        from ..compiler.build import compile_structural
        from ..compiler.enhanced import enhance

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
