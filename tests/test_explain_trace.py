"""explain for plans made from a trace (modes ``trace`` and ``enhanced``): every call site the
trace saw, the critical path in seconds by the trace's timings, and the ordinary calls of
``forward`` that took a noticeable share of the traced run (with how to mark them as leaves)."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from emberjit import Operator, explain_jit_selection, jit
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall
from emberjit.tracing.timer import Timer, slow_calls


class Client:
    """A model reached through a plain object: ordinary code to the plan."""

    def generate(self, prompt: str) -> str:
        time.sleep(0.08)
        return prompt.upper()


class Mixed(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self) -> None:
        model = SimulatedModel(latency=0.02)
        self.a, self.b, self.c = ModelCall(model), ModelCall(model), ModelCall(model)
        self.client = Client()

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        x = self.a(inputs)
        y = self.b(inputs)
        both = self.c({"query": x["text"] + y["text"]})
        z = self.client.generate(both["text"])
        return {"x": x, "y": y, "z": z}


class Quick(Mixed):
    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        x = self.a(inputs)
        y = self.b(inputs)
        return {"x": x, "y": y, "n": len(str(x)) + sum(range(100))}


FIRST = Mixed.forward.__code__.co_firstlineno + 1  # x = self.a(inputs)


def _explain(cls: type[Mixed], mode: str) -> Any:
    op = jit(cls(), mode=mode)
    x = {"query": "q"}
    assert op(x) == cls()(x)
    return explain_jit_selection(op)


def test_trace_mode_lists_every_call_site_with_the_traces_timings() -> None:
    sites = _explain(Mixed, "trace").sites
    assert [s.split(":")[0] for s in sites[:3]] == [
        f"line {FIRST} self.a(...)", f"line {FIRST + 1} self.b(...)",
        f"line {FIRST + 2} self.c(...)"]
    assert "(traced 1 call, " in sites[0]
    summary = sites[-1]
    assert summary.startswith("3 call sites: ")
    assert "ms by the trace's timings" in summary and "the traced run took" in summary


def test_a_trace_plan_that_replays_says_which_calls_depend_on_which() -> None:
    class Replays(Mixed):
        def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
            x = self.a(inputs)
            y = self.b(inputs)
            return self.c({"query": [x, y]})

    first = Replays.forward.__code__.co_firstlineno + 1
    sites = _explain(Replays, "trace").sites
    assert sites[0] == f"line {first} self.a(...): concurrent" + sites[0].split("concurrent")[1]
    assert sites[2].startswith(f"line {first + 2} self.c(...): dependent: waits on the results "
                               f"of line {first}, {first + 1} (traced 1 call, ")
    assert "critical path 2 calls, " in sites[-1]


def test_enhanced_mode_shows_the_structural_call_sites_and_the_traces_timings() -> None:
    sites = _explain(Mixed, "enhanced").sites
    assert sites[0] == f"line {FIRST} self.a(...): concurrent"
    assert "by the trace's timings the dataflow ideal is " in sites[-1]


@pytest.mark.parametrize("mode", ["trace", "enhanced"])
def test_a_slow_ordinary_call_is_named_with_how_to_mark_it(mode: str) -> None:
    text = str(_explain(Mixed, mode))
    line = FIRST + 3
    assert (f"line {line} (z = self.client.generate(both[\"text\"])): Client.generate(...) took "
            in text), text
    assert "mark its method or function with @emberjit.leaf" in text


@pytest.mark.parametrize("mode", ["trace", "enhanced"])
def test_no_hint_when_forward_spends_its_time_in_operator_calls(mode: str) -> None:
    assert "took" not in "\n".join(_explain(Quick, mode).sequential)


def test_the_timer_leaves_another_profiler_in_place() -> None:
    def other(frame: Any, event: str, arg: Any) -> None:
        return None

    sys.setprofile(other)
    try:
        with Timer(Mixed.forward.__code__) as timer:
            Mixed()({"query": "q"})
        assert sys.getprofile() is other and timer.spans == []
    finally:
        sys.setprofile(None)


def test_slow_calls_take_out_the_operator_calls_made_inside() -> None:
    spans = [(10, "helper", 0.0, 1.0), (11, "tiny", 1.0, 1.005)]
    # the helper made one operator call of 0.9 s: 0.1 s of its own, 10% of the 1.005 s run
    found = slow_calls(spans, [(0.05, 0.95)], 1.005)
    assert [(c.line, c.callee, round(c.seconds, 3)) for c in found] == []
    found = slow_calls(spans, [(0.05, 0.85)], 1.005)
    assert [(c.line, c.callee, round(c.seconds, 3)) for c in found] == [(10, "helper", 0.2)]


def test_a_trace_made_while_a_profile_records_finds_the_same_lines() -> None:
    # the trace hook finds the calling line two frames up: a profile's hook around the call
    # must not add a frame (it did, and the trace named emberjit's own line)
    from emberjit import profile

    with profile():
        sites = _explain(Mixed, "trace").sites
    assert [s.split(":")[0] for s in sites[:3]] == [
        f"line {FIRST} self.a(...)", f"line {FIRST + 1} self.b(...)",
        f"line {FIRST + 2} self.c(...)"]
