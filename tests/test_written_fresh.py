"""Shapes a sweep of freshly written programs found plans getting wrong: ``super()`` in
``forward`` or a helper, a generator helper method, and a store into a module's state between
calls. Each gives eager's answer on every mode and scheduler."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from emberjit import Operator, execution_options, explain_jit_selection, jit
from emberjit.models import SimulatedModel
from emberjit.ops import ModelCall

MODES = ["structural", "auto", "enhanced"]
SCHEDULERS = ["sequential", "threads", "async"]
CONFIG = {"temperature": 0.0}


class Base(Operator[dict[str, Any], dict[str, Any]]):
    def __init__(self) -> None:
        self.a = ModelCall(SimulatedModel(latency=0.01))
        self.b = ModelCall(SimulatedModel(latency=0.01))

    def prompt(self, inputs: dict[str, Any]) -> str:
        return f"Q: {inputs['q']}"

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        r = self.a({"query": self.prompt(inputs)})
        s = self.b({"query": "other"})
        return {"r": r["text"], "s": s["text"]}


class Child(Base):
    def prompt(self, inputs: dict[str, Any]) -> str:
        return super().prompt(inputs).upper()

    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = super().forward(inputs)
        out["extra"] = self.b({"query": out["r"]})["text"]
        return out


class Grandchild(Child):
    def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = super().forward(inputs)
        return {**out, "more": True}


class Cases(Operator[dict[str, Any], list[str]]):
    def __init__(self) -> None:
        self.a = ModelCall(SimulatedModel(latency=0.01))

    def _cases(self, items: list[str]) -> Any:
        for q in items:
            if q.strip():
                yield {"query": q.strip()}

    def forward(self, inputs: dict[str, Any]) -> list[str]:
        cases = list(self._cases(inputs["items"]))
        return [self.a(c)["text"] for c in cases]


class Reads(Operator[str, str]):
    """Reads a module's state (outside the operator contract, as settings objects do)."""

    def forward(self, q: str) -> str:
        time.sleep(0.02)
        return f"{q}|t={CONFIG['temperature']}"


class Stores(Operator[str, Any]):
    def __init__(self) -> None:
        self.a, self.b = Reads(), Reads()

    def forward(self, q: str) -> Any:
        first = self.a(q)
        CONFIG["temperature"] = 0.7
        second = self.b(q)
        CONFIG["temperature"] = 0.0
        return first, second


def _check(op: Any, make: Any, x: Any) -> None:
    want = make()(x)
    for mode in MODES:
        fast = jit(make(), mode=mode)
        for scheduler in SCHEDULERS:
            with execution_options(scheduler=scheduler):
                assert fast(x) == want, (mode, scheduler)
                assert fast(x) == want, (mode, scheduler)
        assert asyncio.run(fast.acall(x)) == want, mode


@pytest.mark.parametrize("cls", [Child, Grandchild])
def test_super_in_forward_and_in_a_helper(cls: type[Base]) -> None:
    _check(cls, cls, {"q": "Why?"})


def test_super_is_made_explicit_in_the_plan() -> None:
    fast = jit(Child(), mode="structural")
    fast({"q": "Why?"})
    assert "super(_class_of_Child__forward, self).forward(inputs)" in fast.plan.source


def test_a_generator_helper_runs_as_written() -> None:
    _check(Cases, Cases, {"items": ["What?", " ", "Why?"]})
    fast = jit(Cases(), mode="structural")
    fast({"items": ["a"]})
    assert explain_jit_selection(fast).mode == "structural"


def test_a_store_into_a_modules_state_waits_for_the_calls_before_it() -> None:
    _check(Stores, Stores, "q")
    assert Stores()("q") == ("q|t=0.0", "q|t=0.7")
    fast = jit(Stores(), mode="structural")
    fast("q")
    held = [s for s in explain_jit_selection(fast).sequential if "CONFIG" in s]
    assert held and "changes CONFIG, which is not the function's own" in held[0]


class Deferred(Operator[dict[str, Any], Any]):
    """Operator calls inside a lambda and a local function passed on: not call sites."""

    def __init__(self) -> None:
        self.gen = ModelCall(SimulatedModel(latency=0.0))
        self.more = ModelCall(SimulatedModel(latency=0.0))

    def forward(self, inputs: dict[str, Any]) -> Any:
        g = self.gen(inputs)

        def ask(q):  # type: ignore[no-untyped-def]
            return self.more({"query": q})

        f = lambda q: self.more({"query": q})  # noqa: E731
        return g, list(map(f, ["a", "b"])), list(map(ask, ["c"]))


def test_explain_names_operator_calls_inside_lambdas_and_local_functions() -> None:
    fast = jit(Deferred(), mode="structural")
    assert fast({"query": "q"}) == Deferred()({"query": "q"})
    text = "\n".join(explain_jit_selection(fast).sequential)
    assert "self.more(...) inside a lambda is not a call site" in text
    assert "self.more(...) inside the local function ask() is not a call site" in text


class Inlined(Deferred):
    def forward(self, inputs: dict[str, Any]) -> Any:
        def ask(q):  # type: ignore[no-untyped-def]
            return self.more({"query": q})

        return [ask(q) for q in ("a", "b")]


def test_an_inlined_local_function_is_not_named_as_deferred() -> None:
    fast = jit(Inlined(), mode="structural")
    assert fast({"query": "q"}) == Inlined()({"query": "q"})
    assert "run.submit(self.more" in fast.plan.source  # its calls are call sites
    assert "is not a call site" not in "\n".join(explain_jit_selection(fast).sequential)
