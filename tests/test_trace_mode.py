"""mode="trace" and auto's choice of it: each test is one of the failures issue 4 lists."""

from __future__ import annotations

import time
from typing import Any

import pytest

from emberjit import (
    execution_options,
    explain_jit_selection,
    get_jit_stats,
    jit,
)
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel
from emberjit.operator import Operator
from emberjit.ops import ModelCall


class Fan(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: SimulatedModel, n: int) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(n)]
        self.judge = ModelCall(model, "Pick: {query}")

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        answers = [m(inputs) for m in self.members]
        return self.judge({"query": answers[0]["text"]})


class Twice(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: SimulatedModel) -> None:
        self.ask = ModelCall(model)

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.ask(inputs)
        return self.ask(inputs)


def _exec_fan() -> type:
    namespace: dict[str, Any] = {"Operator": Operator}
    exec("class ExecFan(Operator):\n"
         "    def __init__(self, members):\n"
         "        self.members = members\n"
         "    def forward(self, inputs):\n"
         "        return {'answers': [m(inputs)['text'] for m in self.members]}\n", namespace)
    return namespace["ExecFan"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("scheduler", ["sequential", "threads"])
def test_later_calls_never_return_an_earlier_calls_outputs(scheduler: str) -> None:
    fan = Fan(SimulatedModel(latency=0), 4)
    jitted = jit(fan, mode="trace")
    with execution_options(scheduler=scheduler):
        first = jitted({"query": "What is A?"})
        for q in ("What is B?", "What is C?"):
            assert jitted({"query": q}) == fan({"query": q}) != first
    assert "run.submit(self.members[3], inputs)" in jitted.plan.source


def test_cache_hits_and_guard_failures_are_counted_exactly() -> None:
    fan = Fan(SimulatedModel(latency=0), 2)
    jitted = jit(fan, mode="trace")
    jitted({"query": "A?"})
    jitted({"query": "B?"})
    stats = get_jit_stats(jitted)
    assert (stats.calls, stats.cache_misses, stats.cache_hits, stats.compiles) == (2, 1, 1, 1)
    assert jitted({"query": "C?", "extra": 1}) == fan({"query": "C?", "extra": 1})
    stats = get_jit_stats(jitted)
    assert (stats.cache_hits, stats.cache_misses, stats.guard_failures, stats.recompiles,
            stats.compiles) == (1, 2, 1, 1, 2)
    assert stats["mode"] == "trace"


def test_sample_input_is_traced_at_decoration_time() -> None:
    model = SimulatedModel(latency=0)
    fan = Fan(model, 3)
    jitted = jit(fan, mode="trace", sample_input={"query": "Sample?"})
    assert model.calls == 4  # traced now, not on the first call
    assert "self.judge" in jitted.plan.source
    assert jitted({"query": "Real?"}) == fan({"query": "Real?"})
    assert get_jit_stats(jitted).cache_hits == 1


def test_preserve_stochasticity_runs_identical_calls_each_time() -> None:
    model = SimulatedModel(latency=0)
    jitted = jit(Twice(model), mode="trace", preserve_stochasticity=True)
    for i in range(3):
        jitted({"query": f"Q{i}?"})
    assert model.calls == 6  # two identical calls per run, none deduplicated or reused
    assert jitted.plan.source.count("run.submit(self.ask, inputs)") == 2


def test_force_trace_retraces_every_call() -> None:
    jitted = jit(Fan(SimulatedModel(latency=0), 2), mode="trace", force_trace=True)
    for i in range(3):
        jitted({"query": f"Q{i}?"})
    stats = get_jit_stats(jitted)
    assert (stats.compiles, stats.cache_hits, stats.cache_misses) == (3, 0, 3)


def test_glue_built_argument_runs_eagerly_and_explain_says_which_call() -> None:
    pipeline = Pipeline(SimulatedModel(latency=0), n=3)
    jitted = jit(pipeline, mode="trace")
    for q in ("What is A?", "What is B?"):
        assert jitted({"query": q}) == pipeline({"query": q})
    report = str(explain_jit_selection(jitted))
    assert "mode trace" in report
    assert "runs forward eagerly: call #6 self.judge (JudgeSynthesis)" in report


def test_auto_traces_a_class_without_source_and_runs_its_fan_out_in_parallel() -> None:
    model = SimulatedModel(latency=0.05)
    op = _exec_fan()([ModelCall(model, temperature=0.1 * i) for i in range(10)])
    jitted = jit(op)
    jitted({"query": "Warm up?"})  # the traced run (eager)
    start = time.perf_counter()
    result = jitted({"query": "Timed?"})
    elapsed = time.perf_counter() - start
    assert result == op({"query": "Timed?"})
    assert elapsed < 0.25, f"10 x 50 ms took {elapsed:.3f} s"
    report = str(explain_jit_selection(jitted))
    assert "mode trace" in report and "auto: no usable source" in report


def test_auto_keeps_structural_when_the_source_resolves() -> None:
    jitted = jit(Pipeline(SimulatedModel(latency=0), n=2))
    jitted({"query": "Q?"})
    assert get_jit_stats(jitted).mode == "structural"


# -- trace mode takes the guard-failure path every mode takes (issue 14) ------------------------


def test_a_trace_plan_is_an_ordinary_plan_that_never_changes_under_its_reader() -> None:
    fan = Fan(SimulatedModel(latency=0), 2)
    jitted = jit(fan, mode="trace")
    untraced = jitted.plan  # nothing traced yet: a plan that says so, with no steps
    assert untraced.mode == "trace" and not untraced.code.steps
    assert "has no plan (mode=trace)" in untraced.source
    assert "mode trace" in str(explain_jit_selection(jitted))
    jitted({"query": "A?"})
    first = jitted.plan
    source, guards = first.source, first.guards
    jitted({"query": "B?", "extra": 1})  # another input structure: re-traced
    assert jitted.plan is not first and jitted.plan.source != source
    assert (first.source, first.guards) == (source, guards)  # the plan read earlier is as it was


def test_the_trace_recompile_limit_is_the_shared_rule() -> None:
    fan = Fan(SimulatedModel(latency=0), 2)
    jitted = jit(fan, mode="trace", recompile_limit=1)
    jitted({"query": "A?"})
    with pytest.warns(RuntimeWarning, match=r"recompile limit \(1\) reached in trace mode"):
        for i in range(4):  # a new input structure every call: the input guard fails
            assert jitted({"query": "A?", f"k{i}": i}) == fan({"query": "A?", f"k{i}": i})
    stats = get_jit_stats(jitted)
    assert (stats.guard_failures, stats.recompiles) == (2, 1)
    assert stats.fallbacks == [stats.fallbacks[0]] and "in trace mode" in stats.fallbacks[0]
    assert "recompile limit" in str(explain_jit_selection(jitted))
    calls = stats.calls
    jitted({"query": "B?", "z": 0})  # eager from now on: no trace, no guard failure
    stats = get_jit_stats(jitted)
    assert (stats.calls, stats.guard_failures) == (calls + 1, 2)
