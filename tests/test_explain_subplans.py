"""explain shows the sub-plans (issue 15, item 8): a pipeline that runs sequentially itself but
whose ensemble fans out in its own plan says so."""

from __future__ import annotations

import time
from typing import Any

import pytest

from emberjit import Operator, explain_jit_selection, jit
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel
from emberjit.ops import Ensemble, MostCommon, QuestionRefinement


def test_explain_names_each_sub_plan_and_what_it_runs() -> None:
    fast = jit(Pipeline(SimulatedModel(latency=0), n=10))
    report = explain_jit_selection(fast)
    assert report.scheduler == "sequential"  # its own calls form a chain
    ensemble = [s for s in report.sub_plans if s.startswith("self.ensemble (Ensemble)")]
    assert len(ensemble) == 1 and "scheduler threads" in ensemble[0]  # the fan-out is its own
    assert "sub-plans" in str(report) and ensemble[0] in str(report)
    eager = jit(Pipeline(SimulatedModel(latency=0), n=10), recursive=False)
    assert explain_jit_selection(eager).sub_plans == ()  # no sub-plans without recursive


class Quick(Operator[dict[str, Any], dict[str, Any]]):
    """The quickstart's pipeline: its output is the vote's, so a trace can replay it."""

    def __init__(self, model: SimulatedModel) -> None:
        self.refiner = QuestionRefinement(model)
        self.ensemble = Ensemble.of(model, 10)
        self.vote = MostCommon()

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.vote(self.ensemble(self.refiner(inputs)))


@pytest.mark.parametrize("mode", ["trace", "enhanced"])
def test_plans_learned_from_a_trace_run_their_sub_operators_plans_too(mode: str) -> None:
    # found by the docs examples' test: a trace plan called its ensemble eagerly, so its ten
    # members ran one after another (550 ms against 100 ms in structural mode)
    fast = jit(Quick(SimulatedModel(latency=0.05)), mode=mode)
    for _ in range(2):  # trace and enhanced mode learn from their first calls
        fast({"query": "q?"})
    assert [s.split(" (")[0] for s in explain_jit_selection(fast).sub_plans] == ["self.ensemble"]
    start = time.perf_counter()
    fast({"query": "q?"})
    assert time.perf_counter() - start < 0.3  # refine, then the ensemble: 2 x 50 ms, not 11
