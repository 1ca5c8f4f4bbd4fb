"""explain shows the sub-plans (issue 15, item 8): a pipeline that runs sequentially itself but
whose ensemble fans out in its own plan says so."""

from __future__ import annotations

from emberjit import explain_jit_selection, jit
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel


def test_explain_names_each_sub_plan_and_what_it_runs() -> None:
    fast = jit(Pipeline(SimulatedModel(latency=0), n=10))
    report = explain_jit_selection(fast)
    assert report.scheduler == "sequential"  # its own calls form a chain
    ensemble = [s for s in report.sub_plans if s.startswith("self.ensemble (Ensemble)")]
    assert len(ensemble) == 1 and "scheduler threads" in ensemble[0]  # the fan-out is its own
    assert "sub-plans" in str(report) and ensemble[0] in str(report)
    eager = jit(Pipeline(SimulatedModel(latency=0), n=10), recursive=False)
    assert explain_jit_selection(eager).sub_plans == ()  # no sub-plans without recursive
