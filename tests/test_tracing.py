"""The trace recorder: calls, parents, argument sources, threads, and the hook's lifetime."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from emberjit import operator as operator_module
from emberjit.demo import Pipeline
from emberjit.models import SimulatedModel
from emberjit.operator import Operator
from emberjit.ops import ModelCall
from emberjit.tracing import record


class Fan(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self, model: SimulatedModel, n: int) -> None:
        self.members = [ModelCall(model, temperature=0.1 * i) for i in range(n)]
        self.judge = ModelCall(model, "{query}")
        self.prefix = {"query": "fixed"}

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        answers = [m(inputs) for m in self.members]
        self.judge(self.prefix)
        return self.judge({"query": answers[0]["text"]})


class Threaded(Fan):
    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        with ThreadPoolExecutor(4) as pool:  # threads that do not copy the context
            answers = list(pool.map(lambda m: m(inputs), self.members))
        return answers[-1]


def test_records_nested_calls_with_parents_and_sources() -> None:
    model = SimulatedModel(latency=0)
    pipeline = Pipeline(model, n=3)
    query = {"query": "What is X?"}
    result, trace = record(pipeline, query)
    assert result == pipeline(query)
    paths = [c.path for c in trace.calls]
    assert paths == ["refiner", "ensemble", "ensemble.members[0]", "ensemble.members[1]",
                     "ensemble.members[2]", "vote", "judge"]
    assert [c.parent for c in trace.calls] == [None, None, 1, 1, 1, None, None]
    refiner, ensemble = trace.calls[0], trace.calls[1]
    assert refiner.source.kind == "input" and refiner.source.path == ()
    assert ensemble.source.kind == "result" and ensemble.source.call == 0
    assert trace.calls[0].op is pipeline.refiner
    assert all(c.seconds >= 0 for c in trace.calls)
    # the vote's answer is also one of the ensemble's answers: ambiguous, never guessed
    assert trace.calls[6].source.kind == "unknown" and "ambiguous" in trace.calls[6].source.why
    assert str(trace.output) == "{'answer': #6['answer'], 'votes': #5['votes'], " \
                                "'total': #5['total']}"
    text = str(trace)
    assert "self.ensemble.members[2] (ModelCall)" in text and "Trace of Pipeline" in text


def test_sources_paths_constants_and_built_containers() -> None:
    model = SimulatedModel(latency=0)
    fan = Fan(model, 2)
    _, trace = record(fan, {"query": "Why?"})
    sources = [str(c.source) for c in trace.calls]
    assert sources == ["inputs", "inputs", "self.prefix", "{'query': #0['text']}"]
    assert str(trace.output) == "#3"


def test_calls_in_threads_without_context_are_recorded() -> None:
    model = SimulatedModel(latency=0.01)
    op = Threaded(model, 4)
    _, trace = record(op, {"query": "Why?"})
    assert sorted(c.path for c in trace.calls) == [f"members[{i}]" for i in range(4)]
    assert all(c.orphan and c.parent is None for c in trace.calls)


def test_hook_is_removed_after_the_run_even_when_it_raises() -> None:
    model = SimulatedModel(latency=0, fail_on=lambda p: "boom" in p)
    fan = Fan(model, 2)
    assert operator_module._trace_hook is None
    with pytest.raises(RuntimeError, match="boom"):
        record(fan, {"query": "boom?"})
    assert operator_module._trace_hook is None
    record(fan, {"query": "fine?"})
    assert operator_module._trace_hook is None
