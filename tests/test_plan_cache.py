"""The compile cache (issue 14): a plan compiled for one instance serves another instance of the
class when what the plan assumes holds for it (its guard and the kinds of the instance's operator
attributes), and only then."""

from __future__ import annotations

import types
from typing import Any

from emberjit import get_jit_stats, jit
from emberjit.models import SimulatedModel
from emberjit.operator import Operator
from emberjit.ops import ModelCall

Q = {"query": "q"}


def _pair() -> type:
    @jit
    class Pair(Operator[Any, Any]):
        def __init__(self, first: Any, second: Any) -> None:
            self.first, self.second = first, second

        def forward(self, inputs: Any) -> Any:
            a = self.first(inputs)
            b = self.second(inputs)
            return self.combine(a, b)

        def combine(self, a: Any, b: Any) -> Any:
            return [a, b]

    return Pair


def test_an_instance_of_the_same_shape_shares_the_plan() -> None:
    pair = _pair()
    model = SimulatedModel(latency=0)
    one, two = (pair(ModelCall(model), ModelCall(model)) for _ in range(2))
    assert one(Q) == two(Q)
    assert one.plan is two.plan
    stats = get_jit_stats(two)
    assert (stats.compiles, stats.cache_misses) == (0, 0)


def test_another_shape_of_attributes_gets_its_own_plan() -> None:
    pair = _pair()
    model = SimulatedModel(latency=0)
    one = pair(ModelCall(model), ModelCall(model))
    listed = pair([ModelCall(model)], ModelCall(model))  # first is a list now: another shape
    one(Q)
    assert listed.plan is not one.plan
    assert get_jit_stats(listed).compiles == 1


def test_a_changed_helper_is_not_served_the_old_plan() -> None:
    pair = _pair()
    model = SimulatedModel(latency=0)
    one = pair(ModelCall(model), ModelCall(model))
    one(Q)
    before = one.plan
    assert "type(self).combine is" in "\n".join(before.guards)
    old = pair.combine
    pair.combine = types.FunctionType(  # the same source, a new code object: a helper edited
        old.__code__.replace(), old.__globals__, "combine")
    two = pair(ModelCall(model), ModelCall(model))
    assert two(Q) == one(Q)
    assert two.plan is not before and get_jit_stats(two).compiles == 1
