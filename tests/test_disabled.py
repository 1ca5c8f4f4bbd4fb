"""``emberjit.disabled()`` and ``EMBERJIT_DISABLE=1`` (issue 15, item 4): every jitted operator and
function runs its plain ``forward`` eagerly, compiling nothing and counting in no stats."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import emberjit
from emberjit import Operator, get_jit_stats, jit
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall


class Seen(Operator[Any, Any]):
    """Records the thread each call ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def forward(self, x: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        return x


class Fan(Operator[Any, Any]):
    def __init__(self) -> None:
        self.members = [Seen() for _ in range(3)]

    def forward(self, x: Any) -> Any:
        return [m(x) for m in self.members]


def test_disabled_runs_forward_eagerly_and_counts_nothing() -> None:
    fast = jit(Fan())
    with emberjit.disabled():
        assert fast("q") == ["q", "q", "q"]
    here = threading.current_thread().name
    assert all(m.threads == [here] for m in fast.members)  # forward itself, on this thread
    stats = get_jit_stats(fast)
    assert (stats.calls, stats.compiles) == (0, 0)  # nothing compiled, nothing counted
    with emberjit.execution_options(scheduler="threads"):
        assert fast("r") == ["r", "r", "r"]  # outside the block: the plan again
    assert get_jit_stats(fast).compiles == 1
    assert any(m.threads[-1] != here for m in fast.members)


def test_the_environment_variable_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = jit(Fan())
    monkeypatch.setenv("EMBERJIT_DISABLE", "1")
    fast("q")
    assert get_jit_stats(fast).calls == 0
    monkeypatch.setenv("EMBERJIT_DISABLE", "0")  # off again
    fast("q")
    assert get_jit_stats(fast).calls == 1
    monkeypatch.delenv("EMBERJIT_DISABLE")
    fast("q")
    assert get_jit_stats(fast).calls == 2


def test_disabled_covers_classes_functions_and_acall() -> None:
    model = SimulatedModel(latency=0)

    @jit
    class Pair(Operator[Any, Any]):
        def __init__(self) -> None:
            self.a, self.b = ModelCall(model), ModelCall(model)

        def forward(self, x: Any) -> Any:
            return [self.a(x), self.b(x)]

    member = ModelCall(model)

    @jit
    def both(x: Any) -> Any:
        return [member(x), member(x)]

    pair, x = Pair(), {"query": "q"}
    with emberjit.disabled():
        eager = (pair(x), both(x), asyncio.run(pair.acall(x)), asyncio.run(both.acall(x)))
    assert get_jit_stats(pair).calls == 0 and get_jit_stats(both).calls == 0
    assert eager == (pair(x), both(x), pair(x), both(x))  # the same answers as the plans


# -- lambdas: hints that lead somewhere, a plan that explains itself (issue 15, item 6) --------


def test_a_lambda_gets_hints_that_lead_somewhere_and_a_plan_that_says_why() -> None:
    member = ModelCall(SimulatedModel(latency=0))
    both = lambda x: [member(x), member(x)]  # noqa: E731
    with pytest.raises(emberjit.StructuralAnalysisError, match="mode='auto'") as info:
        jit(both, mode="structural")({"query": "q"})  # compiled at the first call
    assert "mode='trace'" not in str(info.value)  # trace mode does not take functions
    with pytest.raises(emberjit.EmberJitError, match="write it as a def and use mode='auto'"):
        jit(both, mode="trace")({"query": "q"})
    fast = jit(both)  # auto: runs eagerly
    assert fast({"query": "q"}) == both({"query": "q"})
    plan = fast.plan
    assert plan.mode == "eager" and "lambdas have no statements to analyze" in plan.source
    with pytest.raises(TypeError, match="has no plan to call"):
        plan.fn({"query": "q"})
    stats = get_jit_stats(fast)
    assert (stats.compiles, stats.calls) == (0, 1)  # a decision was made, nothing compiled
