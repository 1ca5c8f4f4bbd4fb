"""A helper method's result inside a call's argument (``self.a({"query": self._prompt(x)})``):
a helper's sub-plan returns its result lazily, so the call must wait for it (it once received
the pending task itself on the threads and async schedulers)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emberjit import Operator, execution_options, jit
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall


class Prompted(Operator[dict[str, Any], Any]):
    def __init__(self) -> None:
        self.a = ModelCall(SimulatedModel(latency=0.02))
        self.b = ModelCall(SimulatedModel(latency=0.01))

    def _prompt(self, x: dict[str, Any]) -> str:
        return f"Q: {x['q']}"

    def forward(self, inputs: dict[str, Any]) -> Any:
        r = self.a({"query": self._prompt(inputs)})
        s = self.b({"query": "other"})
        listed = self.b({"query": [self._prompt(inputs), s["text"]]})
        return r["text"], s["text"], listed["text"]


@pytest.mark.parametrize("mode", ["structural", "auto", "enhanced"])
@pytest.mark.parametrize("scheduler", ["sequential", "threads", "async"])
def test_a_helpers_result_inside_an_argument_is_waited_for(mode: str, scheduler: str) -> None:
    x = {"q": "Why?"}
    want = Prompted()(x)
    fast = jit(Prompted(), mode=mode)
    with execution_options(scheduler=scheduler):
        assert fast(x) == want
        assert fast(x) == want
    assert asyncio.run(fast.acall(x)) == want
    assert "Task" not in repr(want)


def test_a_failure_in_the_helper_is_raised_as_eagerly() -> None:
    fast = jit(Prompted())
    with execution_options(scheduler="threads"), pytest.raises(KeyError, match="'q'"):
        fast({"no q": 1})
